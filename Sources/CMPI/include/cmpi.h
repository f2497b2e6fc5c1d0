/*
 * cmpi.h — a small MPI-neutral C ABI over whichever MPI library the build links
 * (Open MPI for real runs, SimGrid SMPI for simulated ones).
 *
 * Swift imports only this header, never mpi.h: handles are opaque pointers owned by
 * cmpi.c, datatypes and reduction operators are plain enums, and every function
 * returns an MPI error code (0 on success) that the Swift layer turns into a thrown
 * error. Errors are set to return (MPI_ERRORS_RETURN) on every communicator.
 */
#ifndef CMPI_H
#define CMPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A communicator handle (wraps an MPI_Comm). */
typedef struct cmpi_comm_s *cmpi_comm;
/** A pending nonblocking operation (wraps an MPI_Request). */
typedef struct cmpi_request_s *cmpi_request;

/** Element types that cross the ABI. */
typedef enum {
    CMPI_BYTE = 0,
    CMPI_FLOAT32 = 1,
    CMPI_FLOAT64 = 2,
    CMPI_INT32 = 3,
    CMPI_INT64 = 4,
} cmpi_dtype;

/** Predefined reduction operators. */
typedef enum {
    CMPI_OP_SUM = 0,
    CMPI_OP_MAX = 1,
    CMPI_OP_MIN = 2,
} cmpi_op;

/**
 * A user-defined reduction on float32 elements of `element_count` floats each:
 * `inout[i] = in[i] ⊕ inout[i]` for `count` elements, `in` being the earlier operand
 * (MPI's convention for non-commutative operators). `context` is passed through.
 */
typedef void (*cmpi_user_fn)(const float *in, float *inout, int count, void *context);

/** Size in bytes of one element of `type`. */
size_t cmpi_dtype_size(cmpi_dtype type);

int cmpi_init(void);
int cmpi_initialized(int *flag);
int cmpi_finalize(void);
/** Ends every rank of `comm` at once with `code` (MPI_Abort). */
int cmpi_abort(cmpi_comm comm, int code);
/** Wall-clock seconds (MPI_Wtime). Under SMPI this is the simulated clock. */
double cmpi_wtime(void);
/** Advances the simulated clock by `flops` floating-point operations under SMPI; a no-op on a real MPI. */
void cmpi_execute_flops(double flops);
/** `bytes` of memory whose contents are unspecified, for phantom payloads: under SMPI one
 *  allocation shared by every simulated rank (SMPI_SHARED_MALLOC: every call maps the same
 *  pages, and SMPI copies no payload between shared buffers); plain malloc on a real MPI.
 *  NULL when the allocation fails. Free with cmpi_shared_free. */
void *cmpi_shared_malloc(size_t bytes);
/** Frees memory from cmpi_shared_malloc. */
void cmpi_shared_free(void *memory);
/** 1 when built for SimGrid SMPI (simulated ranks, simulated clock), else 0. */
int cmpi_is_simulated(void);
/** A property of the simulated platform's root zone (owned by SimGrid), or NULL: not
 *  simulated, or no such property. */
const char *cmpi_simulated_property(const char *name);
/** A short text for an MPI error code, written to `buffer` (NUL-terminated). */
void cmpi_error_string(int code, char *buffer, int capacity);

/** A new handle to MPI_COMM_WORLD, errors set to return. Free with cmpi_comm_release. */
int cmpi_comm_world(cmpi_comm *out);
/** Releases a handle; frees the underlying communicator unless it is the world. */
int cmpi_comm_release(cmpi_comm comm);
int cmpi_comm_rank(cmpi_comm comm, int *rank);
int cmpi_comm_size(cmpi_comm comm, int *size);
int cmpi_comm_dup(cmpi_comm comm, cmpi_comm *out);
/** MPI_Comm_split; a negative color gives a null handle in *out. */
int cmpi_comm_split(cmpi_comm comm, int color, int key, cmpi_comm *out);
/** The rank in MPI_COMM_WORLD of rank `rank` of `comm`. */
int cmpi_comm_world_rank(cmpi_comm comm, int rank, int *world_rank);

int cmpi_send(const void *buf, int64_t count, cmpi_dtype type, int dest, int tag, cmpi_comm comm);
int cmpi_recv(void *buf, int64_t count, cmpi_dtype type, int source, int tag, cmpi_comm comm);
int cmpi_sendrecv(const void *sendbuf, int64_t sendcount, int dest, int sendtag,
                  void *recvbuf, int64_t recvcount, int source, int recvtag,
                  cmpi_dtype type, cmpi_comm comm);
int cmpi_isend(const void *buf, int64_t count, cmpi_dtype type, int dest, int tag, cmpi_comm comm,
               cmpi_request *out);
int cmpi_irecv(void *buf, int64_t count, cmpi_dtype type, int source, int tag, cmpi_comm comm,
               cmpi_request *out);
/** Waits for and frees one request. */
int cmpi_wait(cmpi_request request);
/** Waits for and frees `count` requests. */
int cmpi_waitall(int count, cmpi_request *requests);
/** Tests one request without blocking (MPI_Test); when it has completed, sets *flag to 1 and
    frees it (the handle must not be used again), else sets *flag to 0. */
int cmpi_test(cmpi_request request, int *flag);

int cmpi_barrier(cmpi_comm comm);
int cmpi_bcast(void *buf, int64_t count, cmpi_dtype type, int root, cmpi_comm comm);
int cmpi_allreduce(const void *sendbuf, void *recvbuf, int64_t count, cmpi_dtype type, cmpi_op op,
                   cmpi_comm comm);
int cmpi_allgather(const void *sendbuf, int64_t count, void *recvbuf, cmpi_dtype type, cmpi_comm comm);
int cmpi_allgatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                    const int64_t *displs, cmpi_dtype type, cmpi_comm comm);
int cmpi_gatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                 const int64_t *displs, cmpi_dtype type, int root, cmpi_comm comm);
int cmpi_alltoall(const void *sendbuf, int64_t count, void *recvbuf, cmpi_dtype type, cmpi_comm comm);
int cmpi_alltoallv(const void *sendbuf, const int64_t *sendcounts, const int64_t *sdispls,
                   void *recvbuf, const int64_t *recvcounts, const int64_t *rdispls,
                   cmpi_dtype type, cmpi_comm comm);
int cmpi_reduce_scatter(const void *sendbuf, void *recvbuf, const int64_t *recvcounts, cmpi_dtype type,
                        cmpi_op op, cmpi_comm comm);
/* Phantom collectives: the messages of allgatherv / alltoallv / reduce_scatter (the SMPI
   platform's algorithms) between buffers whose values are unspecified; nothing is combined. */
int cmpi_phantom_allgatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                            cmpi_dtype type, cmpi_comm comm);
int cmpi_phantom_alltoallv(const void *sendbuf, const int64_t *sendcounts, void *recvbuf, const int64_t *recvcounts,
                           cmpi_dtype type, cmpi_comm comm);
int cmpi_phantom_reduce_scatter(void *sendbuf, const int64_t *recvcounts, cmpi_dtype type, cmpi_comm comm);
/**
 * MPI_Exscan of `count` elements of `element_count` float32 each, combined by `fn`
 * registered as a non-commutative user operator. Rank 0's recvbuf is left untouched.
 * Under SMPI (CMPI_SMPI) this is a recursive-doubling scan over MPI_Sendrecv instead:
 * SimGrid's MPI_Exscan leaves the result unwritten for non-commutative operators.
 */
int cmpi_exscan_user(const float *sendbuf, float *recvbuf, int64_t count, int element_count,
                     cmpi_user_fn fn, void *context, cmpi_comm comm);

#ifdef __cplusplus
}
#endif
#endif
