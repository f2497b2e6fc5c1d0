#include <cblas.h>

// What the CPU can run, for choosing OpenBLAS's kernel core (Kernels/BLASCore.swift): 2 when
// AVX-512 F, CD, BW, DQ and VL are present and the OS saves the ZMM state (OpenBLAS's
// SkylakeX kernels), 1 when AVX2 and FMA are present and the OS saves the YMM state (its
// Haswell kernels), 0 otherwise or off x86. From CPUID leaves 1 and 7 and XGETBV, as
// OpenBLAS's own dynamic.c and GCC's __builtin_cpu_supports read them (header-only: no
// runtime library symbol is needed).
#if defined(__x86_64__)
#include <cpuid.h>
static inline int spsim_cpu_vector_level(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    unsigned int xcr0, xcr0High;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xcr0High) : "c"(0));
    if ((xcr0 & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && (xcr0 & 0xE6) == 0xE6) return 2;
    if (avx2 && fma) return 1;
    return 0;
}
#else
static inline int spsim_cpu_vector_level(void) { return 0; }
#endif
