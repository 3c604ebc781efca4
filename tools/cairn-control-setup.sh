#!/bin/sh
# cairn-control-setup - make the keys and certificates of the control
# channel between cairn-control and cairnd (installed as
# cairn-control-setup; @SYSCONFDIR@ is replaced at build time).
#
#   cairn-control-setup [-d dir]
#
# In 'dir' (default @SYSCONFDIR@/cairn) it writes:
#   cairn_server.key   server private key                    (mode 0640)
#   cairn_server.pem   self-signed server certificate, a CA  (mode 0640)
#   cairn_control.key  control client private key            (mode 0600)
#   cairn_control.pem  client certificate signed by the server key (0600)
# cairnd trusts every client certificate signed by the server key, and
# cairn-control trusts the server certificate: mutual authentication, as
# unbound-control-setup sets up for Unbound.  Existing keys are kept and
# the certificates made again from them; -r makes new keys too.
# This script uses only the openssl command line tool.
set -eu

DIR="@SYSCONFDIR@/cairn"
case "$DIR" in
@*) DIR=/etc/cairn ;;	# run from the source tree, not installed
esac
SVR=cairn_server
CTL=cairn_control
DAYS=7300
RECREATE=no

usage() {
	cat <<EOF
usage: cairn-control-setup [-d dir] [-r]
  -d dir  write the files in dir (default $DIR)
  -r      make new keys even if key files exist
Makes $SVR.key/.pem (self-signed CA) and $CTL.key/.pem (signed by it)
for cairnd's remote-control: with control-use-cert: yes.
EOF
}

while getopts "d:rh" opt; do
	case "$opt" in
	d) DIR="$OPTARG" ;;
	r) RECREATE=yes ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 1 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 0 ]; then
	usage >&2
	exit 1
fi

if ! command -v openssl >/dev/null 2>&1; then
	echo "cairn-control-setup: the openssl command was not found" >&2
	exit 1
fi
if [ ! -d "$DIR" ]; then
	echo "cairn-control-setup: $DIR is not a directory" >&2
	exit 1
fi
cd "$DIR"

umask 077
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-control-setup.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

newkey() {
	if [ "$RECREATE" = no ] && [ -s "$1" ]; then
		echo "keeping the existing key $DIR/$1"
		return 0
	fi
	echo "making the key $DIR/$1"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$TMP/$1" 2>"$TMP/err" || {
		cat "$TMP/err" >&2
		echo "cairn-control-setup: could not make $1" >&2
		exit 1
	}
	mv -f "$TMP/$1" "$1"
}

newkey "$SVR.key"
newkey "$CTL.key"

# the server certificate: self-signed, a CA for the client certificate
# and the server's own TLS certificate (name "cairn", which
# cairn-control checks); no extendedKeyUsage so it may sign clients
cat >"$TMP/server.ext" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = cairn
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
subjectAltName = DNS:cairn
subjectKeyIdentifier = hash
EOF
echo "making the certificate $DIR/$SVR.pem"
openssl req -new -x509 -config "$TMP/server.ext" -key "$SVR.key" \
	-days "$DAYS" -sha256 -out "$TMP/$SVR.pem" 2>"$TMP/err" || {
	cat "$TMP/err" >&2
	echo "cairn-control-setup: could not make $SVR.pem" >&2
	exit 1
}

cat >"$TMP/control.ext" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cairn-control
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
echo "making the certificate $DIR/$CTL.pem"
openssl req -new -config "$TMP/control.ext" -key "$CTL.key" \
	-out "$TMP/$CTL.csr" 2>"$TMP/err" &&
openssl x509 -req -in "$TMP/$CTL.csr" -CA "$TMP/$SVR.pem" \
	-CAkey "$SVR.key" -set_serial "0x$(openssl rand -hex 16)" \
	-days "$DAYS" -sha256 -extfile "$TMP/control.ext" -extensions ext \
	-out "$TMP/$CTL.pem" 2>"$TMP/err" || {
	cat "$TMP/err" >&2
	echo "cairn-control-setup: could not make $CTL.pem" >&2
	exit 1
}
openssl verify -CAfile "$TMP/$SVR.pem" "$TMP/$CTL.pem" >/dev/null 2>&1 || {
	echo "cairn-control-setup: $CTL.pem does not verify against" \
		"$SVR.pem" >&2
	exit 1
}
mv -f "$TMP/$SVR.pem" "$SVR.pem"
mv -f "$TMP/$CTL.pem" "$CTL.pem"

chmod 0640 "$SVR.key" "$SVR.pem"
chmod 0600 "$CTL.key" "$CTL.pem"
echo "done: set control-enable: yes (and control-use-cert: yes, the" \
	"default) in the remote-control: clause of cairn.conf"
