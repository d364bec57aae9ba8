// The products of benches/cpu_kernels.rs through ggml, for comparison: one `ggml_mul_mat` of a
// [rows, cols] weight of a ggml type by [tokens, cols] f32 activations on the CPU backend, the
// weight placed in the CPU backend's extra ("repack") buffer type when it has one, as llama.cpp
// loads weights (Q4_0 and Q4_K are then rearranged at load, as here).
//
// Build against a ggml or llama.cpp tree built with CMake (GGML_NATIVE, the default):
//   cc -O2 benches/ggml_mul_mat.c -I$GGML/include -L$GGML/build/bin -lggml -lggml-base -lggml-cpu \
//      -Wl,-rpath,$GGML/build/bin -o ggml_mul_mat
// Usage: ggml_mul_mat TYPE ROWS COLS TOKENS THREADS SECONDS
// Prints the median seconds of one product, over about SECONDS of repeats.

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

// Byte offsets of a block's f16 factors, as in the Rust benchmark.
static int factors(enum ggml_type type, int * at) {
    switch (type) {
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: at[0] = 0; return 1;
        case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: at[0] = 0; at[1] = 2; return 2;
        case GGML_TYPE_Q6_K: at[0] = 208; return 1;
        default: return 0;
    }
}

int main(int argc, char ** argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s TYPE ROWS COLS TOKENS THREADS SECONDS\n", argv[0]);
        return 2;
    }
    enum ggml_type type = GGML_TYPE_COUNT;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char * name = ggml_type_name((enum ggml_type) t);
        if (name && strcasecmp(name, argv[1]) == 0) type = (enum ggml_type) t;
    }
    if (type == GGML_TYPE_COUNT) { fprintf(stderr, "unknown type %s\n", argv[1]); return 2; }
    const int64_t rows = atoll(argv[2]), cols = atoll(argv[3]), tokens = atoll(argv[4]);
    const int threads = atoi(argv[5]);
    const double budget = atof(argv[6]);
    // GGML_BENCH_CPU_TIME=1 (one thread only): time on the CPU, not elapsed, for a busy machine.
    if (getenv("GGML_BENCH_CPU_TIME") && threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;

    ggml_backend_t backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, threads);
    ggml_backend_dev_t dev = ggml_backend_get_device(backend);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_buffer_type_t weight_buft = ggml_backend_get_default_buffer_type(backend);
    ggml_backend_dev_get_extra_bufts_t extra = (ggml_backend_dev_get_extra_bufts_t)
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    if (extra) {
        ggml_backend_buffer_type_t * bufts = extra(dev);
        if (bufts && bufts[0]) weight_buft = bufts[0];
    }

    struct ggml_init_params params = { ggml_tensor_overhead() * 8 + ggml_graph_overhead(), NULL, true };
    struct ggml_context * wctx = ggml_init(params);
    struct ggml_tensor * w = ggml_new_tensor_2d(wctx, type, cols, rows);
    struct ggml_context * ctx = ggml_init(params);
    struct ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, cols, tokens);
    struct ggml_tensor * y = ggml_mul_mat(ctx, w, x);
    struct ggml_cgraph * graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, y);

    // As llama.cpp's loader: the extra buffer type only for weights whose product it supports,
    // asked with an empty buffer of that type.
    ggml_backend_buffer_t probe = ggml_backend_buft_alloc_buffer(weight_buft, 0);
    w->buffer = probe;
    bool supported = ggml_backend_dev_supports_op(dev, y);
    w->buffer = NULL;
    ggml_backend_buffer_free(probe);
    if (!supported) weight_buft = ggml_backend_get_default_buffer_type(backend);
    ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, weight_buft);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, backend);

    size_t nbytes = ggml_nbytes(w);
    unsigned char * data = malloc(nbytes);
    unsigned long long s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < nbytes; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        data[i] = (unsigned char) s;
    }
    int at[2];
    int n = factors(type, at);
    size_t block = ggml_type_size(type);
    ggml_fp16_t small = ggml_fp32_to_fp16(0.01f);
    for (size_t b = 0; b + block <= nbytes; b += block) {
        for (int k = 0; k < n; k++) memcpy(data + b + at[k], &small, 2);
    }
    if (type == GGML_TYPE_F16) {
        for (size_t i = 0; i < nbytes / 2; i++) ((ggml_fp16_t *) data)[i] = ggml_fp32_to_fp16((float) (i % 7) * 0.01f);
    }
    ggml_backend_tensor_set(w, data, 0, nbytes);
    float * xs = malloc(sizeof(float) * cols * tokens);
    for (int64_t i = 0; i < cols * tokens; i++) xs[i] = (float) ((i * 37) % 101 - 50) * 0.02f;
    ggml_backend_tensor_set(x, xs, 0, sizeof(float) * cols * tokens);

    double start = now();
    ggml_backend_graph_compute(backend, graph);
    double once = now() - start;
    int calls = (int) (budget / (once > 1e-9 ? once : 1e-9));
    if (calls < 3) calls = 3;
    if (calls > 2000) calls = 2000;
    double * samples = malloc(sizeof(double) * calls);
    for (int i = 0; i < calls; i++) {
        start = now();
        ggml_backend_graph_compute(backend, graph);
        samples[i] = now() - start;
    }
    qsort(samples, calls, sizeof(double), compare);
    printf("%.9f %s\n", samples[calls / 2], ggml_backend_buft_name(weight_buft));

    ggml_backend_buffer_free(buf);
    ggml_backend_buffer_free(wbuf);
    ggml_free(ctx);
    ggml_free(wctx);
    ggml_backend_free(backend);
    free(data);
    free(xs);
    free(samples);
    return 0;
}
