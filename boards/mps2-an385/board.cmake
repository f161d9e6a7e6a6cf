# The MPS2 AN385 board (QEMU: -M mps2-an385): a Cortex-M3. The image's
# memory (memory.ld) is the firmware's budget, not the board's (4 MB each):
# 64 KiB of flash at 0 and 32 KiB of RAM at 0x20000000, 4 KiB of it stack.
set(BOARD_CPU_FLAGS -mcpu=cortex-m3 -mthumb)
set(BOARD_SOURCES ${BOARD_DIR}/board.c ${BOARD_DIR}/lan9118.c)
set(BOARD_LINK_FLAGS -T${BOARD_DIR}/memory.ld)
