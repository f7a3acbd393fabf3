#!/bin/sh
# make_test_ca.sh DIR
#
# Generates throw-away TLS material for the tests, the demo and the benchmark
# (nothing of this is ever committed):
#
#   ca.pem / ca.key                 test root CA (ECDSA P-256)
#   other-ca.pem / other-ca.key     a second, unrelated root CA ("wrong CA")
#   server-ec.pem / server-ec.key   ECDSA P-256 leaf for localhost, signed by ca
#   server-rsa.pem / server-rsa.key RSA 2048 leaf for localhost, signed by ca
#   wronghost.pem / wronghost.key   leaf for not-localhost.invalid, signed by ca
#
# The certificates are made to suit BearSSL's x509 "minimal" engine: X.509 v3,
# sha256 signatures, basicConstraints CA:TRUE (critical) + keyUsage
# keyCertSign on the CAs, keyUsage + subjectAltName on the leaves (the leaf CN
# equals the DNS name because BearSSL also matches the CN), no critical
# extension other than basicConstraints/keyUsage, validity starting one day in
# the past (clock skew between openssl and the client does not matter).
#
# Idempotent: if DIR already holds a complete, consistent and still valid set,
# nothing is changed (a running stand-in keeps working); otherwise the whole
# set is regenerated. Quiet on success; on failure prints openssl's output and
# exits non-zero.
set -eu

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
mkdir -p "$DIR"

# Serialise concurrent runs on the same DIR (parallel tests), if flock exists.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/.make_test_ca.lock"
    flock 9
fi

FILES="ca.pem ca.key other-ca.pem other-ca.key server-ec.pem server-ec.key
server-rsa.pem server-rsa.key wronghost.pem wronghost.key"

# --- Is the existing set still good? ----------------------------------------
# cert and key belong together (same public key)
pair_ok() {
    c=$(openssl x509 -in "$DIR/$1.pem" -noout -pubkey 2>/dev/null) || return 1
    k=$(openssl pkey -in "$DIR/$1.key" -pubout 2>/dev/null) || return 1
    [ -n "$c" ] && [ "$c" = "$k" ]
}

set_ok() {
    for f in $FILES; do
        [ -s "$DIR/$f" ] || return 1
    done
    for n in ca other-ca server-ec server-rsa wronghost; do
        pair_ok "$n" || return 1
        # still valid for at least one more day
        openssl x509 -in "$DIR/$n.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    done
    openssl verify -CAfile "$DIR/ca.pem" "$DIR/server-ec.pem" \
        "$DIR/server-rsa.pem" "$DIR/wronghost.pem" >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$DIR/other-ca.pem" "$DIR/other-ca.pem" >/dev/null 2>&1 || return 1
    return 0
}

if set_ok; then
    exit 0
fi

# --- Regenerate everything in a private work dir, then move into place -----
WORK=$(mktemp -d "$DIR/.make_test_ca.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' HUP INT TERM
LOG=$WORK/log

# run CMD...: run quietly; on failure show what openssl said and stop
run() {
    if ! "$@" >"$LOG" 2>&1; then
        echo "make_test_ca.sh: failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# Validity: from one day ago (UTCTime, as RFC 5280 wants before 2050).
now=$(date -u +%s)
START=$(date -u -d "@$((now - 86400))" +%y%m%d%H%M%SZ)
CA_END=$(date -u -d "@$((now + 3650 * 86400))" +%y%m%d%H%M%SZ)
LEAF_END=$(date -u -d "@$((now + 397 * 86400))" +%y%m%d%H%M%SZ)

cat >"$WORK/openssl.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
database        = $WORK/index.txt
serial          = $WORK/serial
new_certs_dir   = $WORK
default_md      = sha256
policy          = policy_any
unique_subject  = no
email_in_dn     = no
copy_extensions = none
preserve        = yes

[ policy_any ]
organizationName = optional
commonName       = supplied

[ req ]
distinguished_name = req_dn
prompt             = no

[ req_dn ]
CN = unused

[ ext_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ ext_server_ec ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ ext_server_rsa ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ ext_wronghost ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:not-localhost.invalid
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF
: >"$WORK/index.txt"
echo 01 >"$WORK/serial"   # unused with -rand_serial, but must exist

# key_ec NAME / key_rsa NAME: private key (PKCS#8 PEM) into $WORK/NAME.key
key_ec() {
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$WORK/$1.key"
}
key_rsa() {
    run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$WORK/$1.key"
}

# sign NAME SUBJECT EXT END [ISSUER]: CSR for NAME.key, then a certificate
# signed by ISSUER (self-signed when ISSUER is empty).
sign() {
    name=$1 subj=$2 ext=$3 end=$4 issuer=${5:-}
    run openssl req -new -config "$WORK/openssl.cnf" -key "$WORK/$name.key" \
        -subj "$subj" -out "$WORK/$name.csr"
    if [ -z "$issuer" ]; then
        set -- -selfsign -keyfile "$WORK/$name.key"
    else
        set -- -cert "$WORK/$issuer.pem" -keyfile "$WORK/$issuer.key"
    fi
    run openssl ca -batch -notext -config "$WORK/openssl.cnf" "$@" \
        -rand_serial -md sha256 -extensions "$ext" \
        -startdate "$START" -enddate "$end" \
        -in "$WORK/$name.csr" -out "$WORK/$name.pem"
}

key_ec ca
sign ca "/O=tryon-worker tests/CN=tryon-worker test CA" ext_ca "$CA_END"
key_ec other-ca
sign other-ca "/O=unrelated/CN=unrelated other test CA" ext_ca "$CA_END"
key_ec server-ec
sign server-ec "/CN=localhost" ext_server_ec "$LEAF_END" ca
key_rsa server-rsa
sign server-rsa "/CN=localhost" ext_server_rsa "$LEAF_END" ca
key_ec wronghost
sign wronghost "/CN=not-localhost.invalid" ext_wronghost "$LEAF_END" ca

# Sanity check before publishing.
run openssl verify -CAfile "$WORK/ca.pem" "$WORK/server-ec.pem" \
    "$WORK/server-rsa.pem" "$WORK/wronghost.pem"

for f in $FILES; do
    case $f in
        *.key) chmod 600 "$WORK/$f" ;;
        *)     chmod 644 "$WORK/$f" ;;
    esac
    mv -f "$WORK/$f" "$DIR/$f"
done

set_ok || { echo "make_test_ca.sh: generated set does not verify" >&2; exit 1; }
exit 0
