// Reference numbers from llama.cpp itself, for selene's parity tests. Never run by CI: the
// goldens it produces are committed (see runtime_goldens.py, which builds and drives it).
//
//   llama_ref logits MODEL K   < ids.txt  > out.bin   teacher-forced next-token log-probabilities:
//                                                     u32 positions, u32 K, then per position
//                                                     K x (u32 id, f32 logprob) best first,
//                                                     computed from llama.cpp's full logits row
//   llama_ref greedy MODEL N   < ids.txt  > out.txt   greedy continuation of the prompt, up to N
//                                                     tokens or an end-of-generation token
//   llama_ref tokenize MODEL S < text  > ids.txt   the text's token ids (no BOS added); S = 1 parses
//                                                     special tokens in the text, 0 keeps them plain
//   llama_ref hidden MODEL 0   < ids.txt  > out.bin   teacher-forced output of every layer (llama.cpp's
//                                                     "l_out-L" tensors): u32 layers, u32 width,
//                                                     u32 positions, then per layer positions x width f32
// ids.txt holds whitespace-separated token ids. CPU only, no sampling state. Options after N change
// llama.cpp's own arithmetic, to measure how consistent llama.cpp is with itself:
//   fa=0 / fa=1      flash attention off / on (default: llama.cpp's choice, on for CPU)
//   kv=f32           keep the KV cache in f32 instead of f16
//   sequential       run the prompt one token at a time instead of as one batch
//   threads=N        N CPU threads (default: llama.cpp's default)
//   ubatch=N         split the batch into micro-batches of N tokens
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <numeric>
#include <vector>

static std::vector<llama_token> read_ids() {
    std::vector<llama_token> ids;
    long long v;
    while (std::cin >> v) ids.push_back((llama_token) v);
    return ids;
}

static void die(const char * what) {
    fprintf(stderr, "llama_ref: %s\n", what);
    exit(1);
}

static void write_u32(uint32_t v) { fwrite(&v, 4, 1, stdout); }

// Layer outputs seen by the graph callback, in the order computed (micro-batches append).
struct LayerOutputs {
    std::vector<std::vector<float>> layers;
    int64_t width = 0;
};

static bool keep_layer_outputs(struct ggml_tensor * t, bool ask, void * user_data) {
    const char * prefix = "l_out-";
    if (strncmp(t->name, prefix, strlen(prefix)) != 0) return !ask;  // observe only layer outputs
    if (ask) return true;
    auto * out = (LayerOutputs *) user_data;
    const size_t layer = (size_t) atoi(t->name + strlen(prefix));
    if (out->layers.size() <= layer) out->layers.resize(layer + 1);
    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) die("layer output is not contiguous f32");
    out->width = t->ne[0];
    std::vector<float> & dst = out->layers[layer];
    const size_t old = dst.size();
    dst.resize(old + (size_t) ggml_nelements(t));
    ggml_backend_tensor_get(t, dst.data() + old, 0, ggml_nbytes(t));
    return true;
}

int main(int argc, char ** argv) {
    if (argc < 4) {
        die("usage: llama_ref logits|greedy|tokenize|hidden MODEL N [fa=0|fa=1] [kv=f32] [sequential] [threads=N] [ubatch=N]");
    }
    const std::string mode = argv[1];
    const int n = atoi(argv[3]);
    bool sequential = false, kv_f32 = false;
    int flash_attn = LLAMA_FLASH_ATTN_TYPE_AUTO, threads = 0, ubatch = 0;
    for (int i = 4; i < argc; i++) {
        const std::string opt = argv[i];
        if (opt == "fa=0") flash_attn = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        else if (opt == "fa=1") flash_attn = LLAMA_FLASH_ATTN_TYPE_ENABLED;
        else if (opt == "kv=f32") kv_f32 = true;
        else if (opt == "sequential") sequential = true;
        else if (opt.rfind("threads=", 0) == 0) threads = atoi(opt.c_str() + 8);
        else if (opt.rfind("ubatch=", 0) == 0) ubatch = atoi(opt.c_str() + 7);
        else die("unknown option");
    }
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[2], mp);
    if (!model) die("cannot load model");
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    if (mode == "tokenize") {
        std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        std::vector<llama_token> out(text.size() + 16);
        const int got = llama_tokenize(vocab, text.data(), (int32_t) text.size(), out.data(), (int32_t) out.size(),
                                       /*add_special*/ false, /*parse_special*/ n != 0);
        if (got < 0) die("tokenize failed");
        for (int i = 0; i < got; i++) printf("%d%c", out[i], i + 1 == got ? '\n' : ' ');
        llama_model_free(model);
        return 0;
    }

    std::vector<llama_token> ids = read_ids();
    if (ids.empty()) die("no token ids on stdin");
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (ids.size() + (mode == "greedy" ? n : 0) + 16);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = ubatch > 0 ? (uint32_t) ubatch : cp.n_ctx;
    if (threads > 0) {
        cp.n_threads = threads;
        cp.n_threads_batch = threads;
    }
    cp.no_perf = true;
    cp.flash_attn_type = (llama_flash_attn_type) flash_attn;
    if (kv_f32) {
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
    }
    LayerOutputs layer_outputs;
    if (mode == "hidden") {
        cp.cb_eval = keep_layer_outputs;
        cp.cb_eval_user_data = &layer_outputs;
    }
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create context");

    // Row i of `rows` holds the logits after ids[0..=i] (logits mode) or after the whole prompt.
    std::vector<std::vector<float>> rows;
    auto keep = [&](int32_t i) {
        const float * l = llama_get_logits_ith(ctx, i);
        rows.emplace_back(l, l + n_vocab);
    };
    if (sequential) {
        for (size_t i = 0; i < ids.size(); i++) {
            llama_token t = ids[i];
            if (llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) die("decode failed");
            if (mode != "greedy" || i + 1 == ids.size()) keep(-1);
        }
    } else {
        llama_batch batch = llama_batch_init((int32_t) ids.size(), 0, 1);
        batch.n_tokens = (int32_t) ids.size();
        for (size_t i = 0; i < ids.size(); i++) {
            batch.token[i] = ids[i];
            batch.pos[i] = (llama_pos) i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = mode != "greedy" || i + 1 == ids.size();
        }
        if (llama_decode(ctx, batch) != 0) die("decode failed");
        for (size_t i = 0; i < ids.size(); i++) {
            if (batch.logits[i]) keep((int32_t) i);
        }
        llama_batch_free(batch);
    }

    if (mode == "logits") {
        write_u32((uint32_t) rows.size());
        write_u32((uint32_t) n);
        std::vector<int> order(n_vocab);
        for (const auto & row : rows) {
            const float * logits = row.data();
            double max = *std::max_element(logits, logits + n_vocab), sum = 0;
            for (int t = 0; t < n_vocab; t++) sum += std::exp((double) logits[t] - max);
            const double lse = max + std::log(sum);
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + n, order.end(),
                              [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
            for (int k = 0; k < n; k++) {
                write_u32((uint32_t) order[k]);
                const float lp = (float) ((double) logits[order[k]] - lse);
                fwrite(&lp, 4, 1, stdout);
            }
        }
    } else if (mode == "greedy") {
        const float * logits = rows.back().data();
        for (int step = 0; step < n; step++) {
            llama_token best = (llama_token) (std::max_element(logits, logits + n_vocab) - logits);
            printf("%d\n", best);
            if (llama_vocab_is_eog(vocab, best)) break;
            if (llama_decode(ctx, llama_batch_get_one(&best, 1)) != 0) die("decode failed");
            logits = llama_get_logits_ith(ctx, -1);
        }
    } else if (mode == "hidden") {
        write_u32((uint32_t) layer_outputs.layers.size());
        write_u32((uint32_t) layer_outputs.width);
        write_u32((uint32_t) ids.size());
        for (const auto & layer : layer_outputs.layers) {
            if (layer.size() != ids.size() * (size_t) layer_outputs.width) die("a layer output is missing positions");
            fwrite(layer.data(), sizeof(float), layer.size(), stdout);
        }
    } else {
        die("mode must be logits, greedy, hidden or tokenize");
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
