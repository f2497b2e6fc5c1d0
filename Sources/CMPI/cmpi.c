/*
 * cmpi.c — the only file that includes mpi.h. Compiled against Open MPI's mpi.h for
 * real runs; the same file compiles against SimGrid SMPI's mpi.h for simulated ones.
 * It keeps no mutable global state: SMPI may run many ranks in one process.
 */
#include "cmpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CMPI_SMPI
#include <simgrid/zone.h>
#include <smpi/mpi.h>
#else
#include <mpi.h>
#endif

struct cmpi_comm_s {
    MPI_Comm comm;
    int is_world;
};

struct cmpi_request_s {
    MPI_Request request;
};

static MPI_Datatype mpi_type(cmpi_dtype type) {
    switch (type) {
    case CMPI_FLOAT32: return MPI_FLOAT;
    case CMPI_FLOAT64: return MPI_DOUBLE;
    case CMPI_INT32: return MPI_INT32_T;
    case CMPI_INT64: return MPI_INT64_T;
    case CMPI_BYTE:
    default: return MPI_BYTE;
    }
}

static MPI_Op mpi_op(cmpi_op op) {
    switch (op) {
    case CMPI_OP_MAX: return MPI_MAX;
    case CMPI_OP_MIN: return MPI_MIN;
    case CMPI_OP_SUM:
    default: return MPI_SUM;
    }
}

size_t cmpi_dtype_size(cmpi_dtype type) {
    switch (type) {
    case CMPI_FLOAT32: return 4;
    case CMPI_FLOAT64: return 8;
    case CMPI_INT32: return 4;
    case CMPI_INT64: return 8;
    case CMPI_BYTE:
    default: return 1;
    }
}

/* MPI counts are int: reject what does not fit rather than truncate. */
#define CHECK_COUNT(c) do { if ((c) < 0 || (c) > INT_MAX) return MPI_ERR_COUNT; } while (0)

/* Copies int64 counts into an int array (caller frees); NULL with *err set on overflow. */
static int *int_counts(const int64_t *counts, int n, int *err) {
    int *out = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!out) { *err = MPI_ERR_NO_MEM; return NULL; }
    for (int i = 0; i < n; i++) {
        if (counts[i] < 0 || counts[i] > INT_MAX) { free(out); *err = MPI_ERR_COUNT; return NULL; }
        out[i] = (int)counts[i];
    }
    *err = MPI_SUCCESS;
    return out;
}

int cmpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

int cmpi_initialized(int *flag) { return MPI_Initialized(flag); }
int cmpi_finalize(void) { return MPI_Finalize(); }
int cmpi_abort(cmpi_comm comm, int code) { return MPI_Abort(comm ? comm->comm : MPI_COMM_WORLD, code); }
double cmpi_wtime(void) { return MPI_Wtime(); }

void cmpi_execute_flops(double flops) {
#ifdef CMPI_SMPI
    smpi_execute_flops(flops);
#else
    (void)flops;
#endif
}

void *cmpi_shared_malloc(size_t bytes) {
#ifdef CMPI_SMPI
    return SMPI_SHARED_MALLOC(bytes > 0 ? bytes : 1);
#else
    return malloc(bytes > 0 ? bytes : 1);
#endif
}

void cmpi_shared_free(void *memory) {
#ifdef CMPI_SMPI
    SMPI_SHARED_FREE(memory);
#else
    free(memory);
#endif
}

int cmpi_is_simulated(void) {
#ifdef CMPI_SMPI
    return 1;
#else
    return 0;
#endif
}

const char *cmpi_simulated_property(const char *name) {
#ifdef CMPI_SMPI
    return sg_zone_get_property_value(sg_zone_get_root(), name);
#else
    (void)name;
    return NULL;
#endif
}

void cmpi_error_string(int code, char *buffer, int capacity) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(buffer, (size_t)capacity, "%s", text);
}

static int wrap(MPI_Comm comm, int is_world, cmpi_comm *out) {
    if (comm == MPI_COMM_NULL) { *out = NULL; return MPI_SUCCESS; }
    struct cmpi_comm_s *c = malloc(sizeof *c);
    if (!c) return MPI_ERR_NO_MEM;
    c->comm = comm;
    c->is_world = is_world;
    *out = c;
    return MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
}

int cmpi_comm_world(cmpi_comm *out) { return wrap(MPI_COMM_WORLD, 1, out); }

int cmpi_comm_release(cmpi_comm comm) {
    if (!comm) return MPI_SUCCESS;
    int rc = MPI_SUCCESS, finalized = 0;
    MPI_Finalized(&finalized);
    if (!comm->is_world && !finalized) rc = MPI_Comm_free(&comm->comm);
    free(comm);
    return rc;
}

int cmpi_comm_rank(cmpi_comm comm, int *rank) { return MPI_Comm_rank(comm->comm, rank); }
int cmpi_comm_size(cmpi_comm comm, int *size) { return MPI_Comm_size(comm->comm, size); }

int cmpi_comm_dup(cmpi_comm comm, cmpi_comm *out) {
    MPI_Comm d;
    int rc = MPI_Comm_dup(comm->comm, &d);
    return rc != MPI_SUCCESS ? rc : wrap(d, 0, out);
}

int cmpi_comm_split(cmpi_comm comm, int color, int key, cmpi_comm *out) {
    MPI_Comm s;
    int rc = MPI_Comm_split(comm->comm, color < 0 ? MPI_UNDEFINED : color, key, &s);
    return rc != MPI_SUCCESS ? rc : wrap(s, 0, out);
}

int cmpi_comm_world_rank(cmpi_comm comm, int rank, int *world_rank) {
    MPI_Group group, world;
    int rc = MPI_Comm_group(comm->comm, &group);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_group(MPI_COMM_WORLD, &world);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Group_translate_ranks(group, 1, &rank, world, world_rank);
        MPI_Group_free(&world);
    }
    MPI_Group_free(&group);
    return rc;
}

int cmpi_send(const void *buf, int64_t count, cmpi_dtype type, int dest, int tag, cmpi_comm comm) {
    CHECK_COUNT(count);
    return MPI_Send(buf, (int)count, mpi_type(type), dest, tag, comm->comm);
}

int cmpi_recv(void *buf, int64_t count, cmpi_dtype type, int source, int tag, cmpi_comm comm) {
    CHECK_COUNT(count);
    return MPI_Recv(buf, (int)count, mpi_type(type), source, tag, comm->comm, MPI_STATUS_IGNORE);
}

int cmpi_sendrecv(const void *sendbuf, int64_t sendcount, int dest, int sendtag,
                  void *recvbuf, int64_t recvcount, int source, int recvtag,
                  cmpi_dtype type, cmpi_comm comm) {
    CHECK_COUNT(sendcount);
    CHECK_COUNT(recvcount);
    return MPI_Sendrecv(sendbuf, (int)sendcount, mpi_type(type), dest, sendtag,
                        recvbuf, (int)recvcount, mpi_type(type), source, recvtag,
                        comm->comm, MPI_STATUS_IGNORE);
}

/* Checks the count of a nonblocking call and allocates its request. */
static int new_request(int64_t count, cmpi_request *out) {
    CHECK_COUNT(count);
    *out = malloc(sizeof **out);
    return *out ? MPI_SUCCESS : MPI_ERR_NO_MEM;
}

/* The result `rc` of starting a nonblocking call; frees its request when it failed. */
static int started(int rc, cmpi_request *out) {
    if (rc != MPI_SUCCESS) { free(*out); *out = NULL; }
    return rc;
}

int cmpi_isend(const void *buf, int64_t count, cmpi_dtype type, int dest, int tag, cmpi_comm comm,
               cmpi_request *out) {
    int rc = new_request(count, out);
    if (rc != MPI_SUCCESS) return rc;
    return started(MPI_Isend(buf, (int)count, mpi_type(type), dest, tag, comm->comm, &(*out)->request), out);
}

int cmpi_irecv(void *buf, int64_t count, cmpi_dtype type, int source, int tag, cmpi_comm comm,
               cmpi_request *out) {
    int rc = new_request(count, out);
    if (rc != MPI_SUCCESS) return rc;
    return started(MPI_Irecv(buf, (int)count, mpi_type(type), source, tag, comm->comm, &(*out)->request), out);
}

int cmpi_wait(cmpi_request request) {
    if (!request) return MPI_SUCCESS;
    int rc = MPI_Wait(&request->request, MPI_STATUS_IGNORE);
    free(request);
    return rc;
}

int cmpi_test(cmpi_request request, int *flag) {
    if (!request) { *flag = 1; return MPI_SUCCESS; }
    int rc = MPI_Test(&request->request, flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) *flag = 0;
    else if (*flag) free(request);
    return rc;
}

int cmpi_waitall(int count, cmpi_request *requests) {
    int rc = MPI_SUCCESS;
    for (int i = 0; i < count; i++) {
        int r = cmpi_wait(requests[i]);
        requests[i] = NULL;
        if (rc == MPI_SUCCESS) rc = r;
    }
    return rc;
}

/*
 * Under SMPI every collective call first costs the topology's collective launch latency
 * (the cost model's `collective_launch_us`, stored in the platform by spsim topology export):
 * SMPI's own collectives are point-to-point algorithms and add none. A no-op on a real MPI.
 */
static void collective_launch(void) {
#ifdef CMPI_SMPI
    const char *us = sg_zone_get_property_value(sg_zone_get_root(), "spsim_collective_launch_us");
    double seconds = us ? strtod(us, NULL) * 1e-6 : 0;
    if (seconds > 0) smpi_execute(seconds);
#endif
}

int cmpi_barrier(cmpi_comm comm) {
    collective_launch();
    return MPI_Barrier(comm->comm);
}

int cmpi_bcast(void *buf, int64_t count, cmpi_dtype type, int root, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(count);
    return MPI_Bcast(buf, (int)count, mpi_type(type), root, comm->comm);
}

int cmpi_allreduce(const void *sendbuf, void *recvbuf, int64_t count, cmpi_dtype type, cmpi_op op,
                   cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(count);
    return MPI_Allreduce(sendbuf, recvbuf, (int)count, mpi_type(type), mpi_op(op), comm->comm);
}

int cmpi_allgather(const void *sendbuf, int64_t count, void *recvbuf, cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(count);
    return MPI_Allgather(sendbuf, (int)count, mpi_type(type), recvbuf, (int)count, mpi_type(type), comm->comm);
}

int cmpi_allgatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                    const int64_t *displs, cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(sendcount);
    int size, err;
    MPI_Comm_size(comm->comm, &size);
    int *rc = int_counts(recvcounts, size, &err);
    if (!rc) return err;
    int *dp = int_counts(displs, size, &err);
    if (!dp) { free(rc); return err; }
    err = MPI_Allgatherv(sendbuf, (int)sendcount, mpi_type(type), recvbuf, rc, dp, mpi_type(type), comm->comm);
    free(rc);
    free(dp);
    return err;
}

int cmpi_gatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                 const int64_t *displs, cmpi_dtype type, int root, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(sendcount);
    int size, rank, err;
    MPI_Comm_size(comm->comm, &size);
    MPI_Comm_rank(comm->comm, &rank);
    int *rc = NULL, *dp = NULL;
    if (rank == root) {
        rc = int_counts(recvcounts, size, &err);
        if (!rc) return err;
        dp = int_counts(displs, size, &err);
        if (!dp) { free(rc); return err; }
    }
    err = MPI_Gatherv(sendbuf, (int)sendcount, mpi_type(type), recvbuf, rc, dp, mpi_type(type), root, comm->comm);
    free(rc);
    free(dp);
    return err;
}

int cmpi_alltoall(const void *sendbuf, int64_t count, void *recvbuf, cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(count);
    return MPI_Alltoall(sendbuf, (int)count, mpi_type(type), recvbuf, (int)count, mpi_type(type), comm->comm);
}

int cmpi_alltoallv(const void *sendbuf, const int64_t *sendcounts, const int64_t *sdispls,
                   void *recvbuf, const int64_t *recvcounts, const int64_t *rdispls,
                   cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    int size, err;
    MPI_Comm_size(comm->comm, &size);
    int *sc = int_counts(sendcounts, size, &err), *sd = NULL, *rc = NULL, *rd = NULL;
    if (sc) sd = int_counts(sdispls, size, &err);
    if (sd) rc = int_counts(recvcounts, size, &err);
    if (rc) rd = int_counts(rdispls, size, &err);
    if (rd) err = MPI_Alltoallv(sendbuf, sc, sd, mpi_type(type), recvbuf, rc, rd, mpi_type(type), comm->comm);
    free(sc);
    free(sd);
    free(rc);
    free(rd);
    return err;
}

int cmpi_reduce_scatter(const void *sendbuf, void *recvbuf, const int64_t *recvcounts, cmpi_dtype type,
                        cmpi_op op, cmpi_comm comm) {
    collective_launch();
    int size, err;
    MPI_Comm_size(comm->comm, &size);
    int *rc = int_counts(recvcounts, size, &err);
    if (!rc) return err;
    err = MPI_Reduce_scatter(sendbuf, recvbuf, rc, mpi_type(type), mpi_op(op), comm->comm);
    free(rc);
    return err;
}

/*
 * Phantom collectives (spsim run --phantom): payloads whose values are unspecified, so
 * nothing is combined, only the messages are sent. Each sends exactly the point-to-point
 * messages, in the same order, of the algorithm the SMPI platform names for the collective
 * (SimGridPlatform.swift: ring all-gather(v), pairwise all-to-all(v), Open MPI's ring
 * reduce-scatter), so a phantom run's simulated time is the real run's; unlike those
 * algorithms they allocate nothing and copy nothing (SMPI copies a rank's own block, and
 * its reduce-scatter its whole input, even between shared buffers), and their offsets are
 * int64 (an all-gather of K and V at N = 8M exceeds MPI's int displacements).
 * The messages use a tag of their own on the communicator; strategies' tags stay below it.
 */
#define CMPI_PHANTOM_TAG 32767

static char *at(const void *base, int64_t elements, cmpi_dtype type) {
    return (char *)base + elements * (int64_t)cmpi_dtype_size(type);
}

int cmpi_phantom_allgatherv(const void *sendbuf, int64_t sendcount, void *recvbuf, const int64_t *recvcounts,
                            cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    int size, rank;
    MPI_Comm_size(comm->comm, &size);
    MPI_Comm_rank(comm->comm, &rank);
    int64_t *displs = malloc(sizeof(int64_t) * (size_t)size);
    if (!displs) return MPI_ERR_NO_MEM;
    int64_t running = 0;
    for (int j = 0; j < size; j++) { displs[j] = running; running += recvcounts[j]; }
    int err = MPI_SUCCESS;
    /* SMPI's allgatherv "ring": step i sends to rank + i and receives from rank − i. Its
       step 0, a message to itself, is a local copy that costs no simulated time: skipped. */
    for (int i = 1; i < size && err == MPI_SUCCESS; i++) {
        int dst = (rank + i) % size, src = (rank - i + size) % size;
        if (sendcount > INT_MAX || recvcounts[src] > INT_MAX) { err = MPI_ERR_COUNT; break; }
        err = MPI_Sendrecv(sendbuf, (int)sendcount, mpi_type(type), dst, CMPI_PHANTOM_TAG,
                           at(recvbuf, displs[src], type), (int)recvcounts[src], mpi_type(type), src, CMPI_PHANTOM_TAG,
                           comm->comm, MPI_STATUS_IGNORE);
    }
    free(displs);
    return err;
}

int cmpi_phantom_alltoallv(const void *sendbuf, const int64_t *sendcounts, void *recvbuf, const int64_t *recvcounts,
                           cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    int size, rank;
    MPI_Comm_size(comm->comm, &size);
    MPI_Comm_rank(comm->comm, &rank);
    int64_t *sd = malloc(sizeof(int64_t) * (size_t)size), *rd = malloc(sizeof(int64_t) * (size_t)size);
    if (!sd || !rd) { free(sd); free(rd); return MPI_ERR_NO_MEM; }
    int64_t s = 0, r = 0;
    for (int j = 0; j < size; j++) { sd[j] = s; rd[j] = r; s += sendcounts[j]; r += recvcounts[j]; }
    int err = MPI_SUCCESS;
    /* SMPI's alltoallv "pair" (a power of two of ranks): step i exchanges with rank XOR i;
       otherwise send to rank + i, receive from rank − i. Step 0, the block a rank keeps,
       is a local copy that costs no simulated time: skipped. */
    int pow2 = (size & (size - 1)) == 0;
    for (int i = 1; i < size && err == MPI_SUCCESS; i++) {
        int dst = pow2 ? rank ^ i : (rank + i) % size, src = pow2 ? rank ^ i : (rank - i + size) % size;
        if (sendcounts[dst] > INT_MAX || recvcounts[src] > INT_MAX) { err = MPI_ERR_COUNT; break; }
        err = MPI_Sendrecv(at(sendbuf, sd[dst], type), (int)sendcounts[dst], mpi_type(type), dst, CMPI_PHANTOM_TAG,
                           at(recvbuf, rd[src], type), (int)recvcounts[src], mpi_type(type), src, CMPI_PHANTOM_TAG,
                           comm->comm, MPI_STATUS_IGNORE);
    }
    free(sd);
    free(rd);
    return err;
}

int cmpi_phantom_reduce_scatter(void *sendbuf, const int64_t *recvcounts, cmpi_dtype type, cmpi_comm comm) {
    collective_launch();
    int size, rank;
    MPI_Comm_size(comm->comm, &size);
    MPI_Comm_rank(comm->comm, &rank);
    if (size == 1) return MPI_SUCCESS;
    int64_t *displs = malloc(sizeof(int64_t) * (size_t)size);
    if (!displs) return MPI_ERR_NO_MEM;
    int64_t running = 0;
    for (int j = 0; j < size; j++) { displs[j] = running; running += recvcounts[j]; }
    for (int j = 0; j < size; j++) if (recvcounts[j] > INT_MAX) { free(displs); return MPI_ERR_COUNT; }
    /* Open MPI's (and SMPI's ompi_ring) reduce-scatter: block b travels rank b+1 → … → b,
       each rank forwarding it once it has arrived; received blocks land on the input's own
       block (the values are unspecified). */
    int to = (rank + 1) % size, from = (rank - 1 + size) % size;
    MPI_Datatype t = mpi_type(type);
    MPI_Request pending;
    int block = (rank - 2 + 2 * size) % size;
    int err = MPI_Irecv(at(sendbuf, displs[block], type), (int)recvcounts[block], t, from, CMPI_PHANTOM_TAG, comm->comm,
                        &pending);
    if (err == MPI_SUCCESS)
        err = MPI_Send(at(sendbuf, displs[from], type), (int)recvcounts[from], t, to, CMPI_PHANTOM_TAG, comm->comm);
    for (int k = 2; k < size && err == MPI_SUCCESS; k++) {
        int previous = (rank - k + size) % size, next = (rank - 1 - k + 2 * size) % size;
        MPI_Request current;
        err = MPI_Irecv(at(sendbuf, displs[next], type), (int)recvcounts[next], t, from, CMPI_PHANTOM_TAG, comm->comm,
                        &current);
        if (err == MPI_SUCCESS) err = MPI_Wait(&pending, MPI_STATUS_IGNORE);
        pending = current;
        if (err == MPI_SUCCESS)
            err = MPI_Send(at(sendbuf, displs[previous], type), (int)recvcounts[previous], t, to, CMPI_PHANTOM_TAG,
                           comm->comm);
    }
    if (err == MPI_SUCCESS) err = MPI_Wait(&pending, MPI_STATUS_IGNORE);
    free(displs);
    return err;
}

/*
 * User operators get no context pointer from MPI. Rather than keep one in a global
 * (SMPI runs many ranks in one process), the callback and its context ride in the name
 * of the derived datatype the scan runs on, which MPI hands to the operator.
 */


#ifndef CMPI_SMPI
static void user_trampoline(void *in, void *inout, int *len, MPI_Datatype *type) {
    char name[MPI_MAX_OBJECT_NAME];
    int length = 0, element_count = 0;
    void *fn_pointer = NULL, *context = NULL;
    MPI_Type_get_name(*type, name, &length);
    if (sscanf(name, "cmpi-user-op %p %p %d", &fn_pointer, &context, &element_count) != 3) {
        MPI_Abort(MPI_COMM_WORLD, 70);
        return;
    }
    cmpi_user_fn fn;
    memcpy(&fn, &fn_pointer, sizeof fn);
    fn((const float *)in, (float *)inout, *len, context);
}
#endif

#ifdef CMPI_SMPI
/*
 * SimGrid SMPI's MPI_Exscan (colls::exscan, 3.32 and later) never writes its result when
 * the operator does not commute: its in-order loop tests a stale index. SMPI builds
 * therefore run the scan here, over point-to-point messages, with the algorithm the cost
 * model assumes (recursive doubling, MPICH's MPIR_Exscan_intra_recursive_doubling):
 * round k pairs ranks 2^k apart; each keeps `partial` = the fold of its 2^k-aligned block
 * so far and folds what a lower partner sends into its result. ⌈log2 P⌉ rounds of one
 * whole vector each way. The caller's ledger still records MPI_Exscan's logical schedule.
 */
enum { CMPI_EXSCAN_TAG = 1 << 24 };

static int exscan_recursive_doubling(const float *sendbuf, float *recvbuf, int64_t count, int element_count,
                                     cmpi_user_fn fn, void *context, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t floats = (size_t)count * (size_t)element_count;
    if ((int64_t)floats > INT_MAX) return MPI_ERR_COUNT;
    float *partial = malloc(sizeof(float) * (floats > 0 ? floats : 1));
    float *incoming = malloc(sizeof(float) * (floats > 0 ? floats : 1));
    if (!partial || !incoming) { free(partial); free(incoming); return MPI_ERR_NO_MEM; }
    memcpy(partial, sendbuf, sizeof(float) * floats);
    int rc = MPI_SUCCESS, written = 0;
    for (int mask = 1; mask < size && rc == MPI_SUCCESS; mask <<= 1) {
        int partner = rank ^ mask;
        if (partner >= size) continue;
        rc = MPI_Sendrecv(partial, (int)floats, MPI_FLOAT, partner, CMPI_EXSCAN_TAG,
                          incoming, (int)floats, MPI_FLOAT, partner, CMPI_EXSCAN_TAG, comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) break;
        if (partner < rank) {
            /* incoming holds ranks before mine: result ← incoming ⊕ result, partial ← incoming ⊕ partial. */
            if (!written) memcpy(recvbuf, incoming, sizeof(float) * floats);
            else fn(incoming, recvbuf, (int)count, context);
            written = 1;
            fn(incoming, partial, (int)count, context);
        } else {
            /* incoming holds ranks after mine: partial ← partial ⊕ incoming. */
            fn(partial, incoming, (int)count, context);
            memcpy(partial, incoming, sizeof(float) * floats);
        }
    }
    free(partial);
    free(incoming);
    return rc;
}
#endif

int cmpi_exscan_user(const float *sendbuf, float *recvbuf, int64_t count, int element_count,
                     cmpi_user_fn fn, void *context, cmpi_comm comm) {
    collective_launch();
    CHECK_COUNT(count);
#ifdef CMPI_SMPI
    return exscan_recursive_doubling(sendbuf, recvbuf, count, element_count, fn, context, comm->comm);
#else
    MPI_Datatype element;
    MPI_Op op;
    int rc = MPI_Type_contiguous(element_count, MPI_FLOAT, &element);
    if (rc != MPI_SUCCESS) return rc;
    char name[MPI_MAX_OBJECT_NAME];
    void *fn_pointer;
    memcpy(&fn_pointer, &fn, sizeof fn_pointer);
    snprintf(name, sizeof name, "cmpi-user-op %p %p %d", fn_pointer, context, element_count);
    if ((rc = MPI_Type_set_name(element, name)) == MPI_SUCCESS && (rc = MPI_Type_commit(&element)) == MPI_SUCCESS &&
        (rc = MPI_Op_create(user_trampoline, 0, &op)) == MPI_SUCCESS) {
        rc = MPI_Exscan(sendbuf, recvbuf, (int)count, element, op, comm->comm);
        MPI_Op_free(&op);
    }
    MPI_Type_free(&element);
    return rc;
#endif
}
