// One run-time choice for every kernel of CVectorMath: `FN_avx512`, `FN_avx2` or `FN_base` by
// `level` (`spsim_cpu_vector_level()`: 2, 1, 0), each compiled with its own target attribute;
// off x86 only the baseline exists. An expression: `return` it, or use it as a statement for
// a kernel that returns nothing.
#ifndef SPSIM_DISPATCH_H
#define SPSIM_DISPATCH_H
#if defined(__x86_64__)
#define SPSIM_BY_LEVEL(LEVEL, FN, ...) \
    ((LEVEL) >= 2 ? FN##_avx512(__VA_ARGS__) : (LEVEL) == 1 ? FN##_avx2(__VA_ARGS__) : FN##_base(__VA_ARGS__))
#else
#define SPSIM_BY_LEVEL(LEVEL, FN, ...) FN##_base(__VA_ARGS__)
#endif
#endif
