# Cross-compiling frugal for 64-bit Arm (Jetson, Raspberry Pi 4/5, Graviton) on a Debian
# x86-64 machine, and running the result under qemu-user (scripts/test-arm.sh):
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake
# Needs gcc-aarch64-linux-gnu, qemu-user and the arm64 multiarch -dev packages
# (dpkg --add-architecture arm64; libcjson-dev:arm64 ...), which scripts/test-arm.sh installs.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)   # the top CMakeLists selects the *_neon.c kernels on this

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# Debian's cross gcc already searches the multiarch folders (/usr/include/aarch64-linux-gnu,
# /usr/lib/aarch64-linux-gnu) where the :arm64 packages put their headers and libraries,
# so no sysroot is set.
#
# qemu runs the binaries with the arm64 multiarch loader and libc (libc6:arm64, which the
# :arm64 -dev packages pull in): -L / . Not -L /usr/aarch64-linux-gnu (the cross
# toolchain's own copy): with that prefix qemu takes ld-linux-aarch64.so.1 from the cross
# libc but the loader then finds libc.so.6 in /lib/aarch64-linux-gnu, a different glibc
# build, and the first pthread_create hangs (seen with 2.36-8cross1 vs 2.36-9+deb12u14).
if(NOT FG_QEMU)
  find_program(FG_QEMU NAMES qemu-aarch64 qemu-aarch64-static)
endif()
if(NOT FG_QEMU)
  set(FG_QEMU qemu-aarch64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${FG_QEMU} -L /)

# pkg-config must see only the arm64 .pc files (plus the architecture-independent ones),
# never the host's /usr/lib/x86_64-linux-gnu/pkgconfig.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Programs (cmake, xz) come from the host; libraries and headers only from the target.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
