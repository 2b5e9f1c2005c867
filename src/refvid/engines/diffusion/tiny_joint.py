"""Tiny random joint audio+video pipelines (MiniMax-H3 ref2va + t2va/fl2va, LTX-2), built offline for tests and demos.

Constructor values come from diffusers' own test suites (engines.md §3.3–3.4, `tiny_recipes/`). Pitfalls they
encode: H3 reads `hidden_states[50]` of its encoder, so the tiny Qwen3-VL text model has 51 layers; the audio
VAE's `sampling_rate` must be its hop × 40 (4 × 40 = 160 Hz here; 32 kHz for the real one); the Qwen3-VL
processor needs a `Qwen2TokenizerFast` (byte-level vocabulary, no merges) and, for video references,
torchvision; the canvas configs are shrunk or references would be resized to 2048/768-px edges. LTX-2's text
hidden size must be 32 (connector heads × head dim); its
VAE keeps the real strides (32 px, 8 frames) so that a 4 s clip stays a short sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refvid.engines.diffusion.adapters.common import hf, known_deprecations

H3_TEXT_DIM = 8  # Qwen3-VL text hidden size == H3 transformer text_dim
H3_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
              "<|image_pad|>", "<|video_pad|>"]


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-level alphabet: a merge-free BPE vocabulary over it covers any text."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def _h3_processor() -> tuple[Any, Any, dict[str, int]]:
    transformers = hf("transformers")
    vocab = {c: i for i, c in enumerate(_byte_alphabet())}
    for token in H3_SPECIAL:
        vocab[token] = len(vocab)
    tok = transformers.Qwen2TokenizerFast(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": H3_SPECIAL})
    video = hf("transformers.models.qwen3_vl.video_processing_qwen3_vl")  # needs torchvision
    processor = transformers.Qwen3VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(patch_size=16, merge_size=2, temporal_patch_size=2,
                                                           min_pixels=32 * 32, max_pixels=64 * 64),
        tokenizer=tok,
        video_processor=video.Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2,
                                                    size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 4}))
    return tok, processor, vocab


def build_tiny_minimax_h3() -> Any:
    """The tiny MiniMax-H3 modular pipeline (all workflows: ref2va, t2va, fl2va) in memory (same weights every
    call)."""
    import torch

    diffusers, transformers = hf("diffusers"), hf("transformers")
    scheduler = hf("diffusers.schedulers.scheduling_minimax_h3").MiniMaxH3Scheduler
    tok, processor, vocab = _h3_processor()
    config = transformers.Qwen3VLConfig(
        text_config={"vocab_size": 1024, "hidden_size": H3_TEXT_DIM, "intermediate_size": 16,
                     "num_hidden_layers": 51, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
                     "max_position_embeddings": 4096,
                     "rope_scaling": {"rope_type": "default", "mrope_section": [1, 0, 1], "mrope_interleaved": True}},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": H3_TEXT_DIM, "patch_size": 16, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "deepstack_visual_indexes": [0], "num_position_embeddings": 64},
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
    with torch.random.fork_rng(), known_deprecations():
        torch.manual_seed(0)
        text_encoder = transformers.Qwen3VLForConditionalGeneration(config).eval()
        # Both partitions: `transformer_ref` (ref2va) and `transformer` (t2va / fl2va), as the real folder has.
        transformer, transformer_t2va = (diffusers.MiniMaxH3Transformer3DModel(
            num_attention_heads=2, attention_head_dim=16, hidden_size=24, num_layers=2, num_refiner_layers=2,
            ffn_dim=32, in_channels=4, audio_in_channels=8, patch_size=(1, 2, 2), text_dim=H3_TEXT_DIM, freq_dim=8,
            time_embed_hidden_dim=24, time_embed_dim=16, rope_freq_dim=2) for _ in range(2))
        vae = diffusers.AutoencoderKLMiniMaxH3(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            spatial_downsample_factors=(2, 2), temporal_downsample_factors=(2, 2), norm_num_groups=8,
            decoder_num_layers=2, decoder_num_attention_heads=2, decoder_attention_head_dim=8,
            decoder_num_register_tokens=2, decoder_ffn_mult=2, clip_length=17, token_drop=3,
            latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4)
        audio_vae = diffusers.AutoencoderKLMiniMaxH3Audio(
            encoder_dim=4, encoder_rates=(2, 2), latent_dim=32, latent_channels=8, num_attention_heads=2,
            decoder_dim=16, decoder_rates=(2, 2), decoder_kernel_sizes=(4, 4), resblock_kernel_sizes=(3, 7),
            resblock_dilation_sizes=((1, 3), (1, 3)), sampling_rate=160, latents_mean=[0.0] * 8,
            latents_std=[1.0] * 8)
    pipe = hf("diffusers.modular_pipelines").MiniMaxH3Blocks().init_pipeline()  # every workflow's components
    pipe.update_components(text_encoder=text_encoder, tokenizer=tok, processor=processor, transformer_ref=transformer,
                           transformer=transformer_t2va,
                           vae=vae, audio_vae=audio_vae, scheduler=scheduler(shift=12.0),
                           audio_scheduler=scheduler(shift=3.0))
    pipe.register_to_config(reference_image_short_edge=32, canvas_short_edge=32, canvas_max_pixels=32 * 64)
    return pipe


def build_tiny_ltx2(tokenizer: Any) -> Any:
    """The tiny `LTX2Pipeline` in memory (diffusers' test sizes; same weights every call)."""
    import torch

    diffusers, transformers = hf("diffusers"), hf("transformers")
    ltx2 = hf("diffusers.pipelines.ltx2")
    text = transformers.Gemma3TextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=1, head_dim=8, sliding_window=16,
                                         max_position_embeddings=512)
    vision = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, image_size=28, patch_size=14)
    config = transformers.Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                       mm_tokens_per_image=4, image_token_index=999, boi_token_index=997,
                                       eoi_token_index=998)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        text_encoder = transformers.Gemma3ForConditionalGeneration(config).eval()
        transformer = diffusers.LTX2VideoTransformer3DModel(
            in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
            cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
            audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
            caption_channels=32, rope_double_precision=False, rope_type="split")
        connectors = ltx2.LTX2TextConnectors(
            caption_channels=32, text_proj_in_factor=3, video_connector_num_attention_heads=4,
            video_connector_attention_head_dim=8, video_connector_num_layers=1,
            video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
            audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
            rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
        # The real VAE's strides (32 px, 8 frames) at 8 channels: the latent grid, not the pixels, sets the
        # transformer's sequence, so 97 frames at 64×32 are 13×2×1 tokens instead of tens of thousands.
        vae = diffusers.AutoencoderKLLTX2Video(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,) * 4,
            down_block_types=("LTX2VideoDownBlock3D",) * 4, decoder_block_out_channels=(8,) * 3,
            layers_per_block=(1,) * 5, decoder_layers_per_block=(1,) * 4, spatio_temporal_scaling=(True,) * 4,
            decoder_spatio_temporal_scaling=(True,) * 3, decoder_inject_noise=(False,) * 4,
            downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
            upsample_type=("spatiotemporal",) * 3, upsample_residual=(False,) * 3, upsample_factor=(1,) * 3,
            timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
            decoder_spatial_padding_mode="zeros", spatial_compression_ratio=32, temporal_compression_ratio=8)
        vae.use_framewise_encoding = vae.use_framewise_decoding = False
        audio_vae = diffusers.AutoencoderKLLTX2Audio(
            base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
            resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
            mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
        vocoder = hf("diffusers.pipelines.ltx2.vocoder").LTX2Vocoder(
            in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2],
            resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
            output_sampling_rate=16000)
    return diffusers.LTX2Pipeline(
        transformer=transformer, vae=vae, audio_vae=audio_vae, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors, vocoder=vocoder, processor=None,
        prompt_enhancer=None, duration_head=None)


def write_tiny_ic_lora(pipe: Any, folder: Path) -> Path:
    """A small random in-context LoRA on the transformer's attention, saved as LTX-2 LoRAs are
    (`folder/ic_lora.safetensors`), so that reference videos take the real IC-LoRA path."""
    import torch

    peft = hf("peft")
    transformer = pipe.transformer
    with torch.random.fork_rng():
        torch.manual_seed(1)
        transformer.add_adapter(peft.LoraConfig(r=2, lora_alpha=2, init_lora_weights="gaussian",
                                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        layers = peft.get_peft_model_state_dict(transformer)
    transformer.delete_adapters("default")
    folder.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(folder, transformer_lora_layers=layers, weight_name="ic_lora.safetensors")
    return folder / "ic_lora.safetensors"
