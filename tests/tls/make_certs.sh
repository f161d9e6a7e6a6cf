#!/bin/sh
# Test certificates for the TLS tests, made fresh with openssl (3.0) into
# the directory given as $1:
#
#   ca.crt            the CA the tests trust
#   server.crt/.key   for localhost (DNS:localhost, IP:127.0.0.1), by ca
#   wrong_name.crt    for wrong.example only, by ca (same key as server)
#   expired.crt       for localhost, by ca, valid only in 2020
#   other_ca.crt      an unrelated CA nobody signs with
#   client_ca.crt     the CA a client-certificate listener trusts
#   client.crt/.key   a client certificate by client_ca
#
# Every file is world-readable on purpose: a root-started mosquitto drops to
# the `mosquitto` user and must still read the server key. These keys are
# throwaway test material in a temporary directory.
set -eu

dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
dir=$(pwd)

days=30
subj_ca="/O=midge test/CN=midge test CA"

# One RSA 2048 key per role keeps generation fast (about 0.1 s each).
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.crt"
}

cat > server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
cat > wrong_name.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.example
EXT
cat > client.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT

sign() { # out key subject ext ca
    openssl req -new -key "$2" -subj "$3" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$5.crt" -CAkey "$5.key" -CAcreateserial \
        -sha256 -days "$days" -extfile "$4" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
}

ca ca "$subj_ca"
ca other_ca "/O=midge test/CN=unrelated CA"
ca client_ca "/O=midge test/CN=midge client CA"

key server.key
sign server server.key "/O=midge test/CN=localhost" server.ext ca
sign wrong_name server.key "/O=midge test/CN=wrong.example" wrong_name.ext ca

key client.key
sign client client.key "/O=midge test/CN=midge test client" client.ext client_ca

# Expired: `openssl x509 -req` in 3.0 cannot start a certificate in the
# past, `openssl ca` can (-startdate/-enddate), given its small database.
mkdir -p ca_db
: > ca_db/index.txt
echo 1000 > ca_db/serial
cat > ca_db/ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $dir/ca_db/index.txt
serial = $dir/ca_db/serial
new_certs_dir = $dir/ca_db
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[ any ]
organizationName = optional
commonName = supplied
CNF
openssl req -new -key server.key -subj "/O=midge test/CN=localhost" -out expired.csr
openssl ca -batch -notext -config ca_db/ca.cnf -startdate 20200101000000Z \
    -enddate 20200201000000Z -extfile server.ext -in expired.csr -out expired.crt 2>/dev/null
rm -f expired.csr

chmod 0755 "$dir"
chmod 0644 ./*.crt ./*.key
