"""A plain-PyTorch CLIP of ViT-B-32's shape (no open_clip on the device): the same bf16 training step as the GPU check's
benchmark (AdamW, contrastive loss, autocast bf16 over fp32 master weights), for samples/s on the same GPU.
Prints one JSON line."""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.causal = causal

    def forward(self, x):
        h = self.ln_1(x)
        mask = torch.full((x.shape[1], x.shape[1]), float("-inf"), device=x.device).triu(1) if self.causal else None
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Clip(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 768, 32, 32, bias=False)
        self.cls = nn.Parameter(torch.randn(768) * 0.02)
        self.vpos = nn.Parameter(torch.randn(50, 768) * 0.01)
        self.ln_pre, self.ln_post = nn.LayerNorm(768), nn.LayerNorm(768)
        self.visual = nn.Sequential(*[Block(768, 12, False) for _ in range(12)])
        self.vproj = nn.Parameter(torch.randn(768, 512) * 768 ** -0.5)
        self.tok = nn.Embedding(49408, 512)
        self.tpos = nn.Parameter(torch.randn(77, 512) * 0.01)
        self.text = nn.Sequential(*[Block(512, 8, True) for _ in range(12)])
        self.ln_final = nn.LayerNorm(512)
        self.tproj = nn.Parameter(torch.randn(512, 512) * 512 ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def forward(self, pixels, tokens):
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_post(self.visual(self.ln_pre(x))[:, 0]) @ self.vproj
        t = self.text(self.tok(tokens) + self.tpos)
        t = self.ln_final(t)[torch.arange(t.shape[0], device=t.device), tokens.argmax(-1)] @ self.tproj
        return F.normalize(x, dim=-1), F.normalize(t, dim=-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    dev = "cuda"
    model = Clip().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2)
    labels = torch.arange(a.batch, device=dev)
    pixels = torch.randn(a.batch, 3, 224, 224, device=dev)
    tokens = torch.randint(1, 49406, (a.batch, 77), device=dev)
    tokens[:, -1] = 49407

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            img, txt = model(pixels, tokens)
            logits = model.logit_scale.exp() * img.float() @ txt.float().t()
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    loss.item()
    seconds = time.perf_counter() - start
    print(json.dumps({"check": "pytorch-vit-b-32-train", "torch": torch.__version__, "batch": a.batch, "steps": a.steps,
                      "samples_per_s": round(a.batch * a.steps / seconds, 2), "final_loss": round(loss.item(), 4)}))


if __name__ == "__main__":
    main()
