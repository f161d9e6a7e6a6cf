# The MPS2 AN385 board (QEMU: -M mps2-an385): a Cortex-M3. The image's
# memory is the firmware's budget, not the board's (4 MB each): 64 KiB of
# flash at 0 and 32 KiB of RAM at 0x20000000, of which 4 KiB of stack.
set(BOARD_CPU_FLAGS -mcpu=cortex-m3 -mthumb)
set(BOARD_SOURCES ${BOARD_DIR}/board.c ${BOARD_DIR}/lan9118.c)
set(BOARD_FLASH_SIZE 65536)
set(BOARD_RAM_SIZE 32768)
set(BOARD_STACK_SIZE 4096)
set(BOARD_LINK_FLAGS
  -Wl,--defsym=__flash=0 -Wl,--defsym=__flash_size=${BOARD_FLASH_SIZE}
  -Wl,--defsym=__ram=0x20000000 -Wl,--defsym=__ram_size=${BOARD_RAM_SIZE}
  -Wl,--defsym=__stack_size=${BOARD_STACK_SIZE})
