# CMake toolchain file for bare-metal Arm (Debian's gcc-arm-none-eabi) with
# picolibc (picolibc-arm-none-eabi): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake
# The CPU flags belong to the board (boards/<board>/board.cmake).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")

# No host program can run: compile checks build a static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# picolibc's specs file (its headers, libc and linker script), at compile
# and link time alike (CMake passes the C flags to the link too).
set(CMAKE_C_FLAGS_INIT "--specs=picolibc.specs")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
