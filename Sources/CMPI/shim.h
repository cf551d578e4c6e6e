#ifndef MEMO_CMPI_SHIM_H
#define MEMO_CMPI_SHIM_H
#include <mpi.h>
/// MPI's predefined handles are macros (in Open MPI, addresses of library globals; in MPICH,
/// integer constants) that Swift does not import: one getter each for those memo-swift uses.
static inline MPI_Comm memo_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype memo_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype memo_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype memo_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op memo_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op memo_mpi_max(void) { return MPI_MAX; }
static inline const void *memo_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int memo_mpi_success(void) { return MPI_SUCCESS; }
static inline int memo_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
#endif
