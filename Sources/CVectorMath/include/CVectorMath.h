// The module's umbrella header: every header of CVectorMath, named here so that a build
// that already compiled the module sees a header added later (a header directory alone is
// not re-scanned by the module cache).
#ifndef SPSIM_CVECTORMATH_H
#define SPSIM_CVECTORMATH_H
#include "gla_rows.h"
#include "panel_gemm.h"
#include "reference_rows.h"
#include "vector_math.h"
#endif
