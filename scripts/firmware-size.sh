#!/usr/bin/env bash
# Flash and RAM of the firmware image, by part, counted from the linker map
# (every input section with the object it came from), against the budgets:
#   the whole image     flash <= 64 KiB, RAM <= 32 KiB (stack included)
#   midge's share       flash <= 24 KiB (core, device layer, client layer,
#                       lwIP transport)
# and, for scale, the lwIP transport compiled for the ESP8266 (Debian's
# xtensa-lx106-elf-gcc, headers of the vendored lwIP; skipped without it).
#
# Parts: midge's source lists (cmake/midge-sources.cmake) name which object
# is whose; lwIP is libfw_lwip.a, the board its folder, the C library
# picolibc's archives and crt0 with libgcc. lwIP's pools and heap (memp.c,
# mem.c: static arrays, MEM_LIBC_MALLOC=0) are shown apart from the rest
# of lwIP's RAM.
#
# Usage: scripts/firmware-size.sh [BUILD_DIR]   (default build/firmware; it
#        must hold a built image: scripts/firmware.sh --build-only)
# Exits 1 over a budget, 2 when the map is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build/firmware}"
MAP="$BUILD/midge-firmware.map"
if [ ! -f "$MAP" ]; then
    echo "firmware-size: $MAP not found (scripts/firmware.sh --build-only builds it)" >&2
    exit 2
fi

ESP_SIZE=""
if command -v xtensa-lx106-elf-gcc >/dev/null 2>&1; then
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    if xtensa-lx106-elf-gcc -std=gnu11 -mlongcalls -Os -ffunction-sections -Wall -Wextra -Werror \
        -I"$ROOT/bench/footprint/esp8266" -I"$ROOT/third_party/lwip/src/include" -I"$ROOT/include" \
        -c "$ROOT/src/port/lwip/lwip_tcp.c" -o "$WORK/lwip_tcp.o"; then
        ESP_SIZE="$(xtensa-lx106-elf-size -B "$WORK/lwip_tcp.o" | awk 'NR == 2 { print $1 + $2 }')"
    else
        ESP_SIZE="does not compile"
    fi
fi

exec python3 - "$MAP" "$ROOT/cmake/midge-sources.cmake" "$ESP_SIZE" \
    "$(arm-none-eabi-gcc --version | head -1)" <<'EOF'
import os, re, sys

map_path, sources_path, esp_size, compiler = sys.argv[1:5]
FLASH_BUDGET, RAM_BUDGET, MIDGE_BUDGET = 65536, 32768, 24576

# midge's objects by the list their source is in.
lists = {}
text = open(sources_path).read()
for name, body in re.findall(r"set\((MIDGE_\w+_SOURCES)\s+(.*?)\)", text, re.S):
    for src in body.split():
        lists[os.path.basename(src)] = name
PART_OF_LIST = {
    "MIDGE_CORE_SOURCES": "midge core (codec, session, strings)",
    "MIDGE_STRINGS_SOURCES": "midge core (codec, session, strings)",
    "MIDGE_MATCH_SOURCES": "midge core (codec, session, strings)",
    "MIDGE_DEVICE_SOURCES": "device layer",
    "MIDGE_CLIENT_SOURCES": "client layer",
    "MIDGE_LWIP_SOURCES": "lwIP transport",
}
MIDGE_PARTS = ["midge core (codec, session, strings)", "device layer", "client layer", "lwIP transport"]
ORDER = MIDGE_PARTS + ["firmware application", "board drivers", "lwIP", "lwIP pools and heap",
                       "C library (picolibc, libgcc)", "stack", "padding"]

def part_of(obj, section):
    member = re.search(r"\(([^)]*)\)$", obj)
    base = os.path.basename(member.group(1) if member else obj)
    src = re.sub(r"\.obj$|\.o$", "", base)
    if "libfw_midge.a" in obj and src in lists:
        return PART_OF_LIST.get(lists[src], "midge other")
    if "libfw_lwip.a" in obj:
        if re.search(r"memp_memory|ram_heap", section):
            return "lwIP pools and heap"
        return "lwIP"
    if "/app/" in obj:
        return "firmware application"
    if ".elf.dir/" in obj:
        return "board drivers"
    return "C library (picolibc, libgcc)"

FLASH_OUT = {".init", ".text"}
RAM_OUT = {".tbss", ".tbss_space", ".bss", ".preserve"}
LOADED = {".data", ".tdata"}  # in RAM, and their initial values in flash
sizes = {}
def add(part, flash, ram):
    f, r = sizes.get(part, (0, 0))
    sizes[part] = (f + flash, r + ram)

out = None
pending = None
in_map = False
for line in open(map_path):
    if line.startswith("Linker script and memory map"):
        in_map = True
        continue
    if not in_map:
        continue
    m = re.match(r"^(\.[\w.]+)\s", line)
    if m:
        out = m.group(1)
        if out == ".stack":
            size = re.match(r"^\.stack\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", line)
            if size:
                add("stack", 0, int(size.group(1), 16))
        continue
    m = re.match(r"^ \*fill\*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", line)
    if m and out is not None:
        n = int(m.group(1), 16)
        if out in FLASH_OUT:
            add("padding", n, 0)
        elif out in RAM_OUT:
            add("padding", 0, n)
        elif out in LOADED:
            add("padding", n, n)
        continue
    m = re.match(r"^ ([.\w*]\S*)\s*$", line)
    if m:
        pending = m.group(1)
        continue
    m = re.match(r"^ (?:([.\w]\S*))?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
    if m and out is not None:
        section = m.group(1) or pending or ""
        pending = None
        n = int(m.group(3), 16)
        obj = m.group(4).strip()
        if n == 0 or obj.startswith("0x"):
            continue
        part = part_of(obj, section)
        if out in FLASH_OUT:
            add(part, n, 0)
        elif out in RAM_OUT:
            add(part, 0, n)
        elif out in LOADED:
            add(part, n, n)

total_flash = sum(f for f, _ in sizes.values())
total_ram = sum(r for _, r in sizes.values())
midge_flash = sum(sizes.get(p, (0, 0))[0] for p in MIDGE_PARTS)

print("midge firmware, mps2-an385 (Cortex-M3), %s, -Os" % compiler)
print("from %s\n" % map_path)
print("  %-32s %8s %8s" % ("part", "flash", "RAM"))
for part in ORDER + sorted(set(sizes) - set(ORDER)):
    if part in sizes:
        f, r = sizes[part]
        print("  %-32s %8d %8d" % (part, f, r))
print("  %-32s %8d %8d" % ("total", total_flash, total_ram))
print("  %-32s %8d" % ("midge's share (first four)", midge_flash))
if esp_size:
    print("\nlwIP transport for the ESP8266 (xtensa-lx106-elf-gcc -Os, text+data): %s%s"
          % (esp_size, " bytes" if esp_size.isdigit() else ""))

failed = False
print("\nbudgets:")
for what, value, budget in (("flash, whole image", total_flash, FLASH_BUDGET),
                            ("RAM, whole image (stack included)", total_ram, RAM_BUDGET),
                            ("flash, midge's share", midge_flash, MIDGE_BUDGET)):
    ok = value <= budget
    failed = failed or not ok
    print("  %-36s %6d %s %6d  %s" % (what, value, "<=" if ok else "> ", budget,
                                       "ok" if ok else "OVER BUDGET"))
sys.exit(1 if failed else 0)
EOF
