/* SimGrid SMPI's MPI header, seen only by CMPI's C side in the SMPI build (SPSIM_SMPI=1). */
#include <smpi/mpi.h>
