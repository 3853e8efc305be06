#!/usr/bin/env bash
# Side by side: `efm package`/`efm unpackage` against the openssl cms + zip pipeline
# doing the same work (zip, sign the manifest, encrypt; and back), on incompressible
# files, plus the single-core limits. Prints a table for benches/README.md.
#
# Usage: benches/compare.sh [SIZE_MB...]   (default: 1 100)
# Needs: a release build (cargo build --release -p efm-cli), openssl, zip, unzip,
# /usr/bin/time. Works in a temporary directory it removes afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
efm="$root/target/release/efm"
[ -x "$efm" ] || { echo "build first: cargo build --release -p efm-cli" >&2; exit 1; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1 100)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cd "$w"
for who in alice bob; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$who" \
    -addext keyUsage=digitalSignature,keyEncipherment -keyout $who.key -out $who.crt 2>/dev/null
  openssl pkcs12 -export -inkey $who.key -in $who.crt -out $who.p12 -passout pass:pw
done
echo '{"standardBusinessDocumentHeader":{"sender":[{"identifier":{"value":"0192:910077473"}}],"receiver":[{"identifier":{"value":"0192:910075918"}}]}}' > sbd.json

# seconds and peak RSS (MB) of one command
measure() {
  local t0 t1 kb
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o t.txt "$@" > /dev/null
  t1=$(date +%s%N)
  read -r kb < t.txt
  echo "$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.3f", n / 1e9 }') $((kb / 1024))"
}
rate() { awk -v mb="$1" -v s="$2" 'BEGIN { printf "%.0f", mb / s }'; }

printf "| size | step | tool | seconds | MB/s | peak RSS MB |\n|---|---|---|---|---|---|\n"
for mb in "${sizes[@]}"; do
  head -c $((mb * 1000000)) /dev/urandom > data.bin
  rm -rf out && mkdir out
  read -r s r < <(measure "$efm" package --sbd sbd.json --keystore alice.p12 --password pw --to-cert bob.crt --out msg.cms data.bin)
  printf "| %s MB | package | efm | %s | %s | %s |\n" "$mb" "$s" "$(rate "$mb" "$s")" "$r"
  read -r s r < <(measure "$efm" unpackage --keystore bob.p12 --password pw --out out msg.cms)
  printf "| %s MB | unpackage | efm | %s | %s | %s |\n" "$mb" "$s" "$(rate "$mb" "$s")" "$r"
  cmp -s out/data.bin data.bin || { echo "round trip differs" >&2; exit 1; }
  # The same work with openssl + zip: zip (deflate, as the reference does), sign a
  # manifest (negligible), encrypt; then decrypt and unzip.
  cat > pipe-pack.sh <<'P'
set -e
rm -f asic.zip
zip -q -1 asic.zip data.bin
openssl dgst -sha256 -binary data.bin > digest
openssl cms -sign -binary -in digest -signer alice.crt -inkey alice.key -outform DER -out sig.p7s
zip -q asic.zip sig.p7s
openssl cms -encrypt -binary -aes256 -outform DER -in asic.zip -out ossl.cms -recip bob.crt \
  -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256
P
  cat > pipe-unpack.sh <<'P'
set -e
openssl cms -decrypt -binary -inform DER -in ossl.cms -inkey bob.key -out plain.zip
rm -rf o && unzip -q plain.zip -d o
openssl dgst -sha256 -binary o/data.bin > /dev/null
P
  read -r s r < <(measure bash pipe-pack.sh)
  printf "| %s MB | package | openssl cms + zip | %s | %s | %s |\n" "$mb" "$s" "$(rate "$mb" "$s")" "$r"
  read -r s r < <(measure bash pipe-unpack.sh)
  printf "| %s MB | unpackage | openssl cms + unzip | %s | %s | %s |\n" "$mb" "$s" "$(rate "$mb" "$s")" "$r"
done
echo
echo "Single-core limits (openssl speed, 16 KiB blocks):"
openssl speed -seconds 2 -evp aes-256-cbc 2>/dev/null | tail -1
openssl speed -seconds 2 sha256 2>/dev/null | tail -1
