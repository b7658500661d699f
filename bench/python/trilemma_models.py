"""trilemma's three models in Python PyTorch, line for line as in src/models/ and
src/diffusion/, so that bench/side_by_side.py compares the same networks and the same
training steps in the two languages. Built from the settings JSON that `trilemma bench`
writes (the same keys as config.json); initialisation is PyTorch's default, which is also
LibTorch's (kaiming_uniform(a=sqrt(5)) for weights, U(±1/sqrt(fan_in)) for biases), plus
the U-Net's zero-initialised residual ends. Only what the speed benchmark exercises is
ported: training steps and the samplers, not checkpoints or figures.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_upsampling(cin, cout, kind):
    # models/layers.cpp: Keras-"same" stride-2 ConvTranspose, or conv + PixelShuffle.
    if kind == "transposed":
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1))
    return nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2))


# ---------------------------------------------------------------------------- VAE


class VaeEncoder(nn.Module):
    def __init__(self, latent_dim, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2)
        self.dense = nn.Linear(channels * 6 * 6, 2 * latent_dim)

    def forward(self, x):
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.dense(h.flatten(1)).chunk(2, 1)


class VaeDecoder(nn.Module):
    def __init__(self, latent_dim, channels, upsampling):
        super().__init__()
        self.channels = channels
        self.dense = nn.Linear(latent_dim, channels * 7 * 7)
        self.up1 = make_upsampling(channels, channels, upsampling)
        self.up2 = make_upsampling(channels, channels, upsampling)
        self.out = nn.Sequential(nn.ConvTranspose2d(channels, 1, 3, padding=1) if upsampling == "transposed"
                                 else nn.Conv2d(channels, 1, 3, padding=1))

    def forward(self, z):
        h = torch.relu(self.dense(z)).view(-1, self.channels, 7, 7)
        return self.out(torch.relu(self.up2(torch.relu(self.up1(h)))))


class Vae:
    def __init__(self, s):
        self.s = s
        self.encoder = VaeEncoder(s["latent_dim"], s["channels"])
        self.decoder = VaeDecoder(s["latent_dim"], s["channels"], s["upsampling"])
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.optimizer = torch.optim.Adam(params, lr=s["lr"])

    def train_step(self, images, labels):
        self.encoder.train()
        self.decoder.train()
        mu, log_var = self.encoder(images)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        logits = self.decoder(z)
        n = logits.size(0)
        rec = F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / n
        kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp())).sum() / n
        total = rec + self.s["kl_weight"] * kl
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        return {"loss": total.item(), "bce": rec.item(), "kl": kl.item()}

    def sample(self, n, steps=0):
        with torch.inference_mode():
            self.decoder.eval()
            return torch.sigmoid(self.decoder(torch.randn(n, self.s["latent_dim"])))

    def network_evaluations(self):
        return 1

    def sampler_name(self):
        return "decoder"

    def parameter_count(self):
        return sum(p.numel() for p in self.decoder.parameters())

    def flop_modules(self):
        return [self.decoder]


# ---------------------------------------------------------------------------- DCGAN


class Generator(nn.Module):
    def __init__(self, s):
        super().__init__()
        w = s["width"]
        self.architecture, self.width = s["architecture"], w
        self.dense = nn.Linear(s["latent_dim"], 2 * w * 7 * 7)
        self.dense_norm = nn.BatchNorm1d(2 * w * 7 * 7) if self.architecture == "dcgan" else None
        self.up1 = make_upsampling(2 * w, w, s["upsampling"])
        self.norm1 = nn.BatchNorm2d(w)
        self.mid = nn.Sequential(nn.ConvTranspose2d(w, w, 3, padding=1) if self.architecture == "seed"
                                 else nn.Conv2d(w, w, 3, padding=1))
        self.norm2 = nn.BatchNorm2d(w)
        self.up2 = make_upsampling(w, 1, s["upsampling"])

    def activation(self, x):
        # The seed's Keras ReLU(max_value=0.2), kept as written.
        return x.clamp(0.0, 0.2) if self.architecture == "seed" else torch.relu(x)

    def forward(self, z):
        h = self.dense(z)
        if self.dense_norm is not None:
            h = torch.relu(self.dense_norm(h))
        h = h.view(-1, 2 * self.width, 7, 7)
        h = self.activation(self.norm1(self.up1(h)))
        h = self.activation(self.norm2(self.mid(h)))
        return torch.tanh(self.up2(h))


class Discriminator(nn.Module):
    def __init__(self, s):
        super().__init__()
        w = s["width"]
        self.use_norm = s["architecture"] == "dcgan"
        k = 4 if self.use_norm else 3
        w2 = 2 * w if self.use_norm else w
        self.conv1 = nn.Conv2d(1, w, k, stride=2, padding=1)
        self.conv2 = nn.Conv2d(w, w2, k, stride=2, padding=1)
        self.norm2 = nn.BatchNorm2d(w2) if self.use_norm else None
        self.dense = nn.Linear(w2 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = self.conv2(h)
        if self.norm2 is not None:
            h = self.norm2(h)
        h = F.leaky_relu(h, 0.2)
        return self.dense(h.flatten(1))


def bce_with_logits(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class Dcgan:
    def __init__(self, s):
        self.s = s
        self.generator = Generator(s)
        self.discriminator = Discriminator(s)
        betas = (s["beta1"], 0.999)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=s["lr"], betas=betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=s["lr"], betas=betas)

    def discriminator_step(self, real, z):
        G, D, opt = self.generator, self.discriminator, self.d_optimizer
        with torch.no_grad():
            if self.s["fakes_from_eval_generator"]:
                G.eval()
            fake = G(z)
            G.train()
        D.train()
        if self.s["architecture"] == "seed":
            opt.zero_grad()
            real_logits = D(real)
            real_loss = bce_with_logits(real_logits, 1.0)
            real_loss.backward()
            opt.step()
            opt.zero_grad()
            fake_logits = D(fake)
            fake_loss = bce_with_logits(fake_logits, 0.0)
            fake_loss.backward()
            opt.step()
            d_loss = real_loss.detach() + fake_loss.detach()
        else:
            opt.zero_grad()
            real_logits = D(real)
            fake_logits = D(fake)
            d_loss = bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)
            d_loss.backward()
            opt.step()
        return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def generator_step(self, z):
        self.generator.train()
        self.g_optimizer.zero_grad()
        g_loss = bce_with_logits(self.discriminator(self.generator(z)), 1.0)
        g_loss.backward()
        self.g_optimizer.step()
        self.d_optimizer.zero_grad()
        return {"g_loss": g_loss.item()}

    def train_step(self, images, labels):
        real = images * 2 - 1
        z = torch.randn(images.size(0), self.s["latent_dim"])
        terms = self.discriminator_step(real, z)
        terms.update(self.generator_step(z))
        terms["loss"] = terms["d_loss"] + terms["g_loss"]
        return terms

    def sample(self, n, steps=0):
        z = torch.randn(n, self.s["latent_dim"])
        with torch.inference_mode():
            self.generator.eval()
            images = (self.generator(z) + 1) / 2
            self.generator.train()
            return images

    def network_evaluations(self):
        return 1

    def sampler_name(self):
        return "decoder"

    def parameter_count(self):
        return sum(p.numel() for p in self.generator.parameters())

    def flop_modules(self):
        return [self.generator]


# ---------------------------------------------------------------------------- U-Net

TIME_EMBEDDING_WIDENING = 4
PADDED_SIZE = 32


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def zero_init(conv):
    with torch.no_grad():
        conv.weight.zero_()
        if conv.bias is not None:
            conv.bias.zero_()


def sinusoidal_embedding(t, dim):
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
    angles = t.to(torch.float32).reshape(-1, 1) * frequencies.unsqueeze(0)
    return torch.cat([torch.sin(angles), torch.cos(angles)], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, time_dim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = conv3x3(cin, cout)
        self.time_proj = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(cout, cout)
        zero_init(self.conv2)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, time_embedding):
        # Norms read fp32 under bf16 autocast, as in unet.cpp (torch 1.13's GroupNorm refuses
        # a bf16 input with fp32 weights).
        h = self.conv1(F.silu(self.norm1(x.float())))
        h = h + self.time_proj(F.silu(time_embedding)).unsqueeze(-1).unsqueeze(-1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h.float()))))
        return h + (self.skip(x) if self.skip is not None else x)


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        zero_init(self.proj)

    def forward(self, x):
        n, c, h, w = x.shape
        head_dim = c // self.heads
        qkv = self.qkv(self.norm(x.float())).reshape(n, 3, self.heads, head_dim, h * w)
        q = qkv.select(1, 0).reshape(n * self.heads, head_dim, h * w) * (1.0 / math.sqrt(head_dim))
        k = qkv.select(1, 1).reshape(n * self.heads, head_dim, h * w)
        v = qkv.select(1, 2).reshape(n * self.heads, head_dim, h * w)
        weights = torch.softmax(torch.bmm(q.transpose(1, 2), k), -1)
        out = torch.bmm(v, weights.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(out)


class UNet(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        levels = len(s["channel_mults"])
        time_dim = s["base_width"] * TIME_EMBEDDING_WIDENING
        groups, dropout, heads = s["groups"], s["dropout"], s["attention_heads"]
        self.init_conv = conv3x3(1, s["base_width"])
        self.time_fc1 = nn.Linear(s["base_width"], time_dim)
        self.time_fc2 = nn.Linear(time_dim, time_dim)
        widths = [s["base_width"] * m for m in s["channel_mults"]]
        attention = set(s["attention_levels"])
        channels = s["base_width"]
        self.down_blocks, self.down_attention, self.downsample = nn.ModuleList(), [], []
        self._down_attn, self._down = nn.ModuleList(), nn.ModuleList()
        for level in range(levels):
            blocks = nn.ModuleList()
            for _ in range(s["num_res_blocks"]):
                blocks.append(ResBlock(channels, widths[level], time_dim, groups, dropout))
                channels = widths[level]
            self.down_blocks.append(blocks)
            self.down_attention.append(AttentionBlock(channels, heads, groups) if level in attention else None)
            self.downsample.append(conv3x3(channels, channels, 2) if level + 1 < levels else None)
            for m, holder in ((self.down_attention[-1], self._down_attn), (self.downsample[-1], self._down)):
                if m is not None:
                    holder.append(m)
        self.mid_block1 = ResBlock(channels, channels, time_dim, groups, dropout)
        self.mid_attention = AttentionBlock(channels, heads, groups) if s["middle_attention"] else None
        self.mid_block2 = ResBlock(channels, channels, time_dim, groups, dropout)
        self.up_blocks = nn.ModuleList([nn.ModuleList() for _ in range(levels)])
        self.up_attention, self.upsample = [None] * levels, [None] * levels
        self._up_attn, self._up = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(levels)):
            for b in range(s["num_res_blocks"]):
                cin = channels + widths[level] if b == 0 else widths[level]
                self.up_blocks[level].append(ResBlock(cin, widths[level], time_dim, groups, dropout))
                channels = widths[level]
            if level in attention:
                self.up_attention[level] = AttentionBlock(channels, heads, groups)
                self._up_attn.append(self.up_attention[level])
            if level > 0:
                self.upsample[level] = conv3x3(channels, channels)
                self._up.append(self.upsample[level])
        self.final_block = ResBlock(channels + s["base_width"], s["base_width"], time_dim, groups, dropout)
        self.final_conv = nn.Conv2d(s["base_width"], 1, 1)
        zero_init(self.final_conv)

    def forward(self, x, t):
        x_in = x
        s = self.s
        levels = len(s["channel_mults"])
        height, width = x.size(2), x.size(3)
        pad_h = PADDED_SIZE - height if s["pad_to_32"] and height < PADDED_SIZE else 0
        pad_w = PADDED_SIZE - width if s["pad_to_32"] and width < PADDED_SIZE else 0
        if pad_h > 0 or pad_w > 0:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        if t.dim() == 0:
            t = t.expand(x.size(0))
        time = self.time_fc2(F.silu(self.time_fc1(sinusoidal_embedding(t, s["base_width"]))))
        x = self.init_conv(x)
        init_features = x
        skips = []
        for level in range(levels):
            for block in self.down_blocks[level]:
                x = block(x, time)
            if self.down_attention[level] is not None:
                x = self.down_attention[level](x)
            skips.append(x)
            if self.downsample[level] is not None:
                x = self.downsample[level](x)
        x = self.mid_block1(x, time)
        if self.mid_attention is not None:
            x = self.mid_attention(x)
        x = self.mid_block2(x, time)
        for level in reversed(range(levels)):
            x = torch.cat([x, skips.pop()], 1)
            for block in self.up_blocks[level]:
                x = block(x, time)
            if self.up_attention[level] is not None:
                x = self.up_attention[level](x)
            if self.upsample[level] is not None:
                x = F.interpolate(x, size=(x.size(2) * 2, x.size(3) * 2), mode="nearest")
                x = self.upsample[level](x)
        x = self.final_conv(self.final_block(torch.cat([x, init_features], 1), time))
        if pad_h > 0 or pad_w > 0:
            x = x[:, :, pad_h // 2:pad_h // 2 + height, pad_w // 2:pad_w // 2 + width]
        return x.to(x_in.dtype)


# ---------------------------------------------------------------------------- DDPM


def make_betas(name, T):
    if name == "linear":
        return [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)] if T > 1 else [1e-4]
    if name == "linear-scaled":
        scale = 1000.0 / T
        return [scale * (1e-4 + (0.02 - 1e-4) * i / (T - 1)) for i in range(T)]
    if name == "cosine":
        f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
        return [min(1.0 - f(i + 1.0) / f(float(i)), 0.999) for i in range(T)]
    raise ValueError(name)


def sampling_timesteps(start_t, steps):
    available = start_t + 1
    if steps <= 0 or steps >= available:
        steps = available
    if steps == 1:
        return [start_t]
    return [int(math.floor(start_t * (steps - 1 - k) / (steps - 1) + 0.5)) for k in range(steps)]


class Ddpm:
    def __init__(self, s):
        self.s = s
        self.net = UNet(s)
        self.ema = UNet(s)
        self.ema_update(0.0)
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=s["lr"])
        self.steps_done = 0
        betas = make_betas(s["schedule"], s["timesteps"])
        self.alpha_bars, ab = [], 1.0
        for b in betas:
            ab *= 1.0 - b
            self.alpha_bars.append(ab)
        ab_t = torch.tensor(self.alpha_bars, dtype=torch.float64)
        self.sqrt_ab = ab_t.sqrt().float()
        self.sqrt_1mab = (1 - ab_t).sqrt().float()

    def alpha_bar_at(self, i):
        return 1.0 if i < 0 else self.alpha_bars[i]

    def ema_update(self, decay):
        with torch.no_grad():
            for t, p in zip(self.ema.parameters(), self.net.parameters()):
                t.mul_(decay).add_(p.detach(), alpha=1.0 - decay)
            for t, b in zip(self.ema.buffers(), self.net.buffers()):
                t.copy_(b)

    def q_sample(self, x0, t, noise):
        shape = [x0.size(0)] + [1] * (x0.dim() - 1)
        a = self.sqrt_ab.index_select(0, t).to(x0.dtype).view(shape)
        b = self.sqrt_1mab.index_select(0, t).to(x0.dtype).view(shape)
        return a * x0 + b * noise

    def train_step(self, images, labels):
        s = self.s
        self.net.train()
        x0 = images * 2.0 - 1.0
        n = x0.size(0)
        t = torch.randint(0, s["timesteps"], (n,), dtype=torch.long)
        noise = torch.randn_like(x0)
        x_t = self.q_sample(x0, t, noise)
        predicted = self.net(x_t, t)
        loss = F.mse_loss(predicted, noise)
        self.optimizer.zero_grad()
        loss.backward()
        terms = {}
        if s["grad_clip"] > 0:
            terms["grad_norm"] = float(nn.utils.clip_grad_norm_(self.net.parameters(), s["grad_clip"]))
        if s["warmup_steps"] > 0:
            scale = min(1.0, (self.steps_done + 1) / s["warmup_steps"])
            for group in self.optimizer.param_groups:
                group["lr"] = s["lr"] * scale
        self.optimizer.step()
        decay = min(s["ema_decay"], (1.0 + self.steps_done) / (10.0 + self.steps_done))
        self.ema_update(decay)
        self.steps_done += 1
        terms["loss"] = loss.item()
        return terms

    def _steps(self, steps):
        T = self.s["timesteps"]
        if steps > 0:
            return steps
        return T if self.s["sampler"] == "ddpm" else self.s["sample_steps"]

    def network_evaluations(self, steps=0):
        return len(sampling_timesteps(self.s["timesteps"] - 1, self._steps(steps)))

    def sampler_name(self):
        return "%s-%d" % (self.s["sampler"], self.network_evaluations())

    def parameter_count(self):
        return sum(p.numel() for p in self.net.parameters())

    def flop_modules(self):
        return [self.ema]

    def _step(self, x, t, t_prev, clip):
        ab, ab_prev = self.alpha_bar_at(t), self.alpha_bar_at(t_prev)
        eps = self.ema(x, torch.full((x.size(0),), t, dtype=torch.long))
        if self.s["sampler"] == "ddpm":
            beta = 1.0 - ab / ab_prev
            x0 = (x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)
            if clip > 0:
                x0 = x0.clamp(-clip, clip)
            coef_x0 = math.sqrt(ab_prev) * beta / (1.0 - ab)
            coef_xt = math.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)
            mean = coef_x0 * x0 + coef_xt * x
            if t_prev < 0:
                return mean
            variance = beta if self.s["ddpm_variance"] == "beta" else (1.0 - ab_prev) / (1.0 - ab) * beta
            return mean + math.sqrt(variance) * torch.randn_like(x)
        if self.s["sampler"] == "ddim":
            x0 = (x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)
            if clip > 0:
                x0 = x0.clamp(-clip, clip)
                eps = (x - math.sqrt(ab) * x0) / math.sqrt(1.0 - ab)
            eta = self.s["eta"]
            sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab)) * math.sqrt(1.0 - ab / ab_prev)
            direction = math.sqrt(max(0.0, 1.0 - ab_prev - sigma * sigma))
            nxt = math.sqrt(ab_prev) * x0 + direction * eps
            if sigma > 0:
                nxt = nxt + sigma * torch.randn_like(x)
            return nxt
        raise NotImplementedError("sampler " + self.s["sampler"] + " (the benchmark ports ddpm and ddim)")

    def sample(self, n, steps=0):
        clip = 1.0 if self.s["clip_denoised"] else 0.0
        timesteps = sampling_timesteps(self.s["timesteps"] - 1, self._steps(steps))
        with torch.inference_mode():
            self.ema.eval()
            chunks = []
            chunk = sampling_chunk(self.s)
            for start in range(0, n, chunk):
                x = torch.randn(min(chunk, n - start), 1, 28, 28)
                for k, t in enumerate(timesteps):
                    x = self._step(x, t, timesteps[k + 1] if k + 1 < len(timesteps) else -1, clip)
                chunks.append(((x + 1.0) * 0.5).clamp(0.0, 1.0))
            return torch.cat(chunks, 0)


def sampling_chunk(s):
    """As sampling_chunk in ddpm.cpp: the largest power of two in 8..256 whose activations
    (largest feature map plus attention scores) stay under 2^20 elements."""
    size = max(32, 28) if s["pad_to_32"] else 28
    per_image = s["base_width"] * size * size
    if s["attention_levels"]:
        positions = (size >> min(s["attention_levels"])) ** 2
        per_image += s["attention_heads"] * positions * positions
    chunk = 256
    while chunk > 8 and chunk * per_image > (1 << 20):
        chunk //= 2
    return chunk


def create(model, settings):
    if model == "vae":
        return Vae(settings)
    if model == "dcgan":
        return Dcgan(settings)
    if model == "ddpm":
        return Ddpm(settings)
    raise ValueError("unknown model " + model)
