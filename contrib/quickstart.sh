#!/bin/bash
# contrib/quickstart.sh [BUILDDIR] - DNS over HTTPS with cairnd in a minute.
#
# Makes a test CA and a server certificate (CA:FALSE, for 127.0.0.1 and
# localhost) in /tmp/cairn-quickstart, starts cairnd on
# contrib/quickstart.conf (DoH on 127.0.0.1@8443, plain DNS on
# 127.0.0.1@5353) and asks it with kdig, curl and dig.  cairnd keeps
# running; the last line says how to stop it.  BUILDDIR is where cairnd
# was built (default: the top of the source tree).  For testing only: the
# keys are unencrypted and the CA is made on the spot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=$(cd "${1:-$top}" && pwd)
dir=/tmp/cairn-quickstart
cairnd=$build/cairnd
[ -x "$cairnd" ] || { echo "no $cairnd: build first (see README.md)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"

echo "== test CA and server certificate in $dir"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=cairn quickstart CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
openssl ecparam -name prime256v1 -genkey -noout -out server.key
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature,keyEncipherment" \
	"extendedKeyUsage=serverAuth" \
	"subjectAltName=IP:127.0.0.1,DNS:localhost" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-sha256 -days 30 -extfile server.ext -out server.pem 2>/dev/null
chmod 600 ca.key server.key
openssl verify -CAfile ca.pem server.pem

echo "== starting $cairnd -d -c $here/quickstart.conf"
"$cairnd" -d -c "$here/quickstart.conf" >"$dir/cairnd.log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$dir/cairnd.pid"
for i in $(seq 1 50); do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "cairnd exited:" >&2; cat "$dir/cairnd.log" >&2; exit 1
	fi
	if (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then break; fi
	sleep 0.2
done

echo "== kdig @127.0.0.1 -p 8443 +https localhost"
kdig @127.0.0.1 -p 8443 +https +tls-ca="$dir/ca.pem" +tls-hostname=localhost localhost A
echo "== curl --http2 (GET, the query for localhost A in base64url)"
curl -sS --http2 --cacert "$dir/ca.pem" --resolve localhost:8443:127.0.0.1 \
	-H 'accept: application/dns-message' -D - -o "$dir/answer.bin" \
	'https://localhost:8443/dns-query?dns=AAABAAABAAAAAAAACWxvY2FsaG9zdAAAAQAB'
echo "answer: $(wc -c < "$dir/answer.bin") bytes of application/dns-message"
echo "== dig @127.0.0.1 -p 5353 doh.example (plain DNS)"
dig @127.0.0.1 -p 5353 +short doh.example A
echo
echo "cairnd is running as PID $pid (log: $dir/cairnd.log); stop it with: kill $pid"
