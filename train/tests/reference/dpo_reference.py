#!/usr/bin/env python3
"""Independent reference for the trainer's DPO + NLL loss (train/tests/loss_reference.rs).

Computes, with Hugging Face transformers' LlamaForCausalLM in float64 and PyTorch autograd, on
the tiny checkpoint and batch written by `cargo run --release -p selene-train --example make-tiny
-- loss DIR`:

* per pair: summed log-probabilities of the chosen and rejected replies under the policy (base
  weights plus the PEFT adapter in DIR/adapter, merged as W + (alpha/r) * B @ A) and the
  reference (the base alone), the DPO loss -log sigmoid(beta * margin), the rewards and the
  per-sequence NLL;
* the batch loss mean(DPO) + alpha * NLL with NLL the mean over all chosen reply tokens (and the
  per-sequence variant);
* the gradient of the batch loss with respect to every adapter factor.

Each sequence is run on its own (no padding, no batching), and log-probabilities come from a full
log-softmax, so nothing of the Rust implementation's layout is shared.

Usage: dpo_reference.py DIR > train/tests/golden/dpo_loss.json
Needs torch, transformers and safetensors (tools/reference/requirements.txt).
"""

import hashlib
import json
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

BETA = 0.5
ALPHA = 1.0


def main(ckpt):
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float64, attn_implementation="eager")
    model.eval()
    with open(f"{ckpt}/adapter/adapter_config.json") as f:
        adapter_config = json.load(f)
    scale = adapter_config["lora_alpha"] / adapter_config["r"]
    adapter = {k: v.to(torch.float64).requires_grad_(True) for k, v in load_file(f"{ckpt}/adapter/adapter_model.safetensors").items()}
    with open(f"{ckpt}/batch.json") as f:
        batch = json.load(f)
    base = dict(model.named_parameters())

    def merged():
        params = {}
        for name in adapter:
            if name.endswith(".lora_A.weight"):
                module = name[len("base_model.model."):-len(".lora_A.weight")]
                a = adapter[name]
                b = adapter[name.replace("lora_A", "lora_B")]
                params[f"{module}.weight"] = base[f"{module}.weight"].detach() + scale * (b @ a)
        return params

    def reply_logp(params, prompt, reply):
        ids = torch.tensor([prompt + reply])
        logits = torch.func.functional_call(model, params, (ids,)).logits[0]
        logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[0, 1:, None])[:, 0]
        return logp[len(prompt) - 1:].sum()

    policy_params = merged()
    pairs = []
    losses, chosen_sums, chosen_tokens, per_seq_nll = [], [], [], []
    for pair in batch:
        p, c, r = pair["prompt"], pair["chosen"], pair["rejected"]
        pc, pr = reply_logp(policy_params, p, c), reply_logp(policy_params, p, r)
        with torch.no_grad():
            rc, rr = reply_logp({}, p, c), reply_logp({}, p, r)
        margin = (pc - rc) - (pr - rr)
        dpo = -torch.nn.functional.logsigmoid(BETA * margin)
        losses.append(dpo)
        chosen_sums.append(pc)
        chosen_tokens.append(len(c))
        per_seq_nll.append(-pc / len(c))
        pairs.append({
            "policy_chosen": pc.item(), "policy_rejected": pr.item(),
            "reference_chosen": rc.item(), "reference_rejected": rr.item(),
            "dpo_loss": dpo.item(),
            "reward_chosen": (BETA * (pc - rc)).item(), "reward_rejected": (BETA * (pr - rr)).item(),
            "nll": (-pc / len(c)).item(),
        })
    nll_tokens = -torch.stack(chosen_sums).sum() / sum(chosen_tokens)
    dpo_mean = torch.stack(losses).mean()
    loss = dpo_mean + ALPHA * nll_tokens
    loss.backward()
    with open(f"{ckpt}/model.safetensors", "rb") as f:
        weights_sha256 = hashlib.sha256(f.read()).hexdigest()
    json.dump({
        "source": "train/tests/reference/dpo_reference.py (transformers LlamaForCausalLM, float64, torch autograd)",
        "weights_sha256": weights_sha256,
        "beta": BETA, "alpha": ALPHA,
        "batch": batch,
        "pairs": pairs,
        "dpo_loss": dpo_mean.item(),
        "nll_tokens": nll_tokens.item(),
        "nll_sequences": torch.stack(per_seq_nll).mean().item(),
        "loss": loss.item(),
        "grads": {name: t.grad.flatten().tolist() for name, t in sorted(adapter.items())},
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
