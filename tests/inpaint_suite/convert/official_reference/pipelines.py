"""The authors' test scripts, re-typed as functions (test oracles for ``predict --pipeline official``).

Each function follows one official script step by step with the same libraries (PIL resizes and rotations,
``torchvision``-style ``ToTensor``/``Normalize`` arithmetic, numpy casts); the network is a callable with the
official call signature, so a test can pass an official reference model (``official_reference.<method>``) or any
stand-in. Written from reading the scripts, sharing no code with ``inpaint_suite/commands/predict.py``:

- ``aotgan_test``: ``researchmm/AOT-GAN-for-Inpainting`` ``src/test.py`` (``main_worker`` + ``postprocess``);
- ``deepgin_test_ensemble``: ``rlct1/gin`` ``test_ensemble.py`` (the per-image body of its loop);
- ``madf_test``: ``MADF-inpainting/Pytorch-MADF`` ``test.py`` (``testset`` + ``evaluate`` + ``save_image``).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def to_tensor(pil: Image.Image) -> torch.Tensor:
    """``torchvision.transforms.ToTensor`` for 8-bit ``L``/``RGB`` images: ``(C, H, W)`` float in [0, 1]."""
    array = np.asarray(pil, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)


# ---------------------------------------------------------------------------------------------------- AOT-GAN
def aotgan_test(net, image_path, mask_path) -> np.ndarray:
    """``src/test.py``: returns the ``*_comp.png`` array. ``net(image_masked, mask)`` -> ``pred_img``."""
    image = to_tensor(Image.open(image_path).convert("RGB"))
    image = (image * 2.0 - 1.0).unsqueeze(0)
    mask = to_tensor(Image.open(mask_path).convert("L")).unsqueeze(0)
    image_masked = image * (1 - mask.float()) + mask
    with torch.no_grad():
        pred_img = net(image_masked, mask)
    comp_imgs = (1 - mask) * image + mask * pred_img
    # postprocess
    out = torch.clamp(comp_imgs[0], -1.0, 1.0)
    out = (out + 1) / 2.0 * 255.0
    return out.permute(1, 2, 0).cpu().numpy().astype(np.uint8)


# ---------------------------------------------------------------------------------------------------- DeepGIN
def _make_power_2(img: Image.Image, base: int = 256) -> Image.Image:
    ow, oh = img.size
    h, w = int(round(oh / base) * base), int(round(ow / base) * base)
    h, w = h or base, w or base
    if (h == oh) and (w == ow):
        return img
    return img.resize((w, h), Image.BICUBIC)


def _tensor2im(t: torch.Tensor) -> np.ndarray:
    """pix2pixHD ``util.tensor2im(t, normalize=False)``: ``(H, W, 3)`` uint8 by clip and truncation."""
    array = np.transpose(t.cpu().float().numpy(), (1, 2, 0)) * 255.0
    return np.clip(array, 0, 255).astype(np.uint8)


def deepgin_test_ensemble(net, mskimg_path, msk_path) -> np.ndarray:
    """``test_ensemble.py`` for one ``*_with_holes.png`` and its ``*_mask.png``: returns the saved array.
    ``net(masked_img, mask)`` -> ``(compltd_img, reconst_img, lr_x)`` (the official inference model)."""
    oimg = Image.open(mskimg_path).convert("RGB")
    omsk = Image.open(msk_path).convert("L")
    ow, oh = oimg.size
    resized_img, resized_msk = _make_power_2(oimg), _make_power_2(omsk)
    rw, rh = resized_img.size
    hori_ver, vert_ver = rw // 256, rh // 256
    np_resized_img = np.array(resized_img, np.uint8)
    np_resized_msk = np.array(resized_msk, np.uint8)
    # the script's double loop "np_tmp_img[i, j] = np_resized_img[vv + vert_ver*j, hv + hori_ver*i]", vectorised
    i, j = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    img_arr, msk_arr = [], []
    for hv in range(hori_ver):
        for vv in range(vert_ver):
            img_arr.append(np_resized_img[vv + vert_ver * j, hv + hori_ver * i].copy())
            msk_arr.append(np_resized_msk[vv + vert_ver * j, hv + hori_ver * i].copy())
    compltd_arr = []
    for img_np, msk_np in zip(img_arr, msk_arr):
        img, msk = Image.fromarray(img_np), Image.fromarray(msk_np)
        variants = [(img, msk), (img.rotate(90), msk.rotate(90)), (img.rotate(180), msk.rotate(180)),
                    (img.rotate(270), msk.rotate(270)),
                    (img.transpose(Image.FLIP_LEFT_RIGHT), msk.transpose(Image.FLIP_LEFT_RIGHT))]
        outs = []
        with torch.no_grad():
            for vi, vm in variants:
                _, reconst_img, _ = net(to_tensor(vi).unsqueeze(0), to_tensor(vm).unsqueeze(0))
                outs.append(_tensor2im(reconst_img.data[0]))
        np_compltd_img = outs[0]
        back = [np.array(Image.fromarray(outs[1]).rotate(270), np.float64),
                np.array(Image.fromarray(outs[2]).rotate(180), np.float64),
                np.array(Image.fromarray(outs[3]).rotate(90), np.float64),
                np.array(Image.fromarray(outs[4]).transpose(Image.FLIP_LEFT_RIGHT), np.float64)]
        np_compltd_img = (np_compltd_img + back[0] + back[1] + back[2] + back[3]) / 5.0
        np_compltd_img = np.array(np.round(np_compltd_img), np.uint8)
        compltd_arr.append(np.array(Image.fromarray(np_compltd_img, mode="RGB"), np.uint8))
    ver_idx = 0
    for hv in range(hori_ver):
        for vv in range(vert_ver):
            np_resized_img[vv + vert_ver * j, hv + hori_ver * i] = compltd_arr[ver_idx]
            ver_idx += 1
    new_compltd_img = Image.fromarray(np_resized_img)
    new_compltd_img = new_compltd_img.resize((ow, oh), Image.BICUBIC)
    new_compltd_img = new_compltd_img.resize((int(ow * 0.5), int(oh * 0.5)), Image.BICUBIC)
    new_compltd_img = new_compltd_img.resize((ow, oh), Image.BICUBIC)
    np_new_compltd_img = np.array(new_compltd_img)
    np_oimg, np_omsk = np.array(oimg), np.array(omsk)
    for c in range(3):
        np_new_compltd_img[:, :, c] = (np_new_compltd_img[:, :, c] * (np_omsk / 255.0)
                                       + ((255.0 - np_omsk) / 255.0) * np_oimg[:, :, c])
    return np_new_compltd_img


# ---------------------------------------------------------------------------------------------------- MADF
def madf_test(net, gt_path, mask_path, size: int) -> np.ndarray:
    """``test.py`` (``--image_size size``): returns the saved composite. ``net(input, mask)`` -> list of outputs
    (the last is used); the mask file is white = KNOWN, read as RGB."""
    gt = Image.open(gt_path).convert("RGB").resize((size, size), Image.BILINEAR)  # transforms.Resize((s, s))
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    gt_img = ((to_tensor(gt) - mean) / std).unsqueeze(0)
    mask = to_tensor(Image.open(mask_path).convert("RGB").resize((size, size), Image.NEAREST)).unsqueeze(0)
    image = gt_img * mask
    with torch.no_grad():
        outputs = net(image, mask)
    output = outputs[-1]
    output_comp = mask * image + (1 - mask) * output
    unnormalized = output_comp[0] * std + mean  # util.image.unnormalize
    # torchvision.utils.save_image
    return unnormalized.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
