#!/bin/bash
# Makes the certificates of the TLS tests (C++ and Python) in directory $1,
# with the openssl command, as a user makes them (the README's Security
# section shows the same commands): a CA `ca` and what it signed for
# `server` (127.0.0.1, ::1, localhost), `client` and `elsewhere` (another
# host's names); `stranger`, signed by `other_ca`; `expired`, signed by
# `ca` but valid only in 2020. NAME.pem is each certificate, NAME.key its key.
set -euo pipefail
cd "$1"

# EC keys: made in milliseconds, where RSA keys take a good part of a second each.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$1"; }
signed() { # name, CA, subjectAltName
  key "$1"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 30 -extfile "$1.ext"
}

ca ca
ca other_ca
signed server ca "IP:127.0.0.1,IP:::1,DNS:localhost"
signed client ca "DNS:client"
signed stranger other_ca "IP:127.0.0.1,DNS:localhost"
signed elsewhere ca "DNS:elsewhere.example,IP:10.9.9.9"

# `openssl ca` is the one command that sets a certificate's dates in the past.
cat > ca.cnf <<'CNF'
[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
: > index.txt
echo 01 > serial
key expired
openssl req -new -key expired.key -out expired.csr -subj "/CN=expired" \
  -addext "subjectAltName=IP:127.0.0.1"
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
  -out expired.pem -startdate 20200101000000Z -enddate 20210101000000Z -notext
