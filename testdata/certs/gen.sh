#!/bin/bash
# testdata/certs/gen.sh OUTDIR - make a test CA and a server certificate.
#
# OUTDIR/ca.key ca.pem            a self-signed test CA (CA:TRUE)
# OUTDIR/server.key server.pem    a leaf signed by it: CA:FALSE,
#                                 subjectAltName IP:127.0.0.1, DNS:localhost,
#                                 extendedKeyUsage serverAuth
# OUTDIR/other.key                a key that matches neither certificate
#                                 (for the key/certificate mismatch test)
# For tests and the quick start only: the keys are unencrypted.
set -euo pipefail
out=${1:?usage: gen.sh OUTDIR}
mkdir -p "$out"
cd "$out"
days=30
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days "$days" \
	-subj "/CN=cairn test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out ca.pem
openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
cat > server.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-sha256 -days "$days" -extfile server.ext -out server.pem 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 ca.key server.key other.key
openssl verify -CAfile ca.pem server.pem >/dev/null
