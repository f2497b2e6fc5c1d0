# Environment for running spsim under Open MPI on this kind of machine (sourced by the scripts).
# Root may run mpirun; more ranks than cores are allowed; one BLAS thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1
export SWIFT_BACKTRACE=enable=no
