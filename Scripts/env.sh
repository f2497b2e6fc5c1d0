# Environment for running spsim under Open MPI on this kind of machine (sourced by the scripts).
# Root may run mpirun; more ranks than cores are allowed; one BLAS thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1
export SWIFT_BACKTRACE=enable=no
# OpenBLAS's kernel core, for processes that load the library in-process (smpirun's ranks,
# swift test); the spsim executable re-executes itself on the right core (Kernels/BLASCore.swift).
# Set only when the library falls back to its generic Prescott core on a CPU with AVX-512
# (SkylakeX) or AVX2 + FMA (Haswell); a CPU the library recognises keeps the library's choice.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && command -v python3 >/dev/null; then
    spsim_blas_core=$(python3 -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())' 2>/dev/null || true)
    if [ "$spsim_blas_core" = Prescott ]; then
        spsim_cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
        spsim_has() { for f in "$@"; do case "$spsim_cpu_flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
        if spsim_has avx512f avx512cd avx512bw avx512dq avx512vl; then export OPENBLAS_CORETYPE=SkylakeX
        elif spsim_has avx2 fma; then export OPENBLAS_CORETYPE=Haswell
        fi
        unset -f spsim_has
        unset spsim_cpu_flags
    fi
    unset spsim_blas_core
fi
# One build configuration for every script (test.sh, demo.sh, bench.sh, smpi.sh), so no script
# rebuilds what another built: release (the kernels are SIMD code) with testing enabled.
spsim_build_flags=(-c release -Xswiftc -enable-testing)
# `spsim` on the PATH, as the README's examples write it.
spsim_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case ":$PATH:" in *":$spsim_root/.build/release:"*) ;; *) export PATH="$spsim_root/.build/release:$PATH" ;; esac
unset spsim_root
