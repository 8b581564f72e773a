"""MatConvNet, TF-slim, Caffe and canonical .npz files, written by their real producers."""
import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from fcn_graph.cli import main
from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.upsampling import bilinear_kernel
from fcn_graph.weights import WeightsError, detect_format, load_weights
from fcn_graph.weights import caffe_proto
from fcn_graph.weights.canonical import save_npz
from fcn_graph.weights.slim import SLIM_RGB_MEAN
from fcn_graph.weights.synthetic import random_weights
from caffe_files import V1_ENUM, caffe_blobs, caffe_net, fill_blob, relu_name, vgg_records

WIDTH = 1 / 16


# --- MatConvNet: scipy.io.savemat of real struct arrays and cells ---------------------------

def mat_struct(**fields):
    struct = np.empty((1, 1), dtype=[(name, object) for name in fields])
    for name, value in fields.items():
        struct[0, 0][name] = value
    return struct


def mat_cell(*values):
    cell = np.empty((1, len(values)), dtype=object)
    for i, value in enumerate(values):
        cell[0, i] = value
    return cell


def matconvnet_layers(weights, layout):
    entries = []
    for name, (kernel, bias) in weights.layers.items():
        # The old layout stores biases as a row, the new one as a column.
        bias = bias[None, :] if layout != "meta" else bias[:, None]
        params = ({"filters": kernel, "biases": bias} if layout == "filters"
                  else {"weights": mat_cell(kernel, bias)})
        entries.append(mat_struct(name=name, type="conv", stride=np.array([[1, 1]]), **params))
        relu_params = ({"filters": np.zeros((0, 0)), "biases": np.zeros((0, 0))}
                       if layout == "filters" else {"weights": np.empty((0, 0), dtype=object)})
        entries.append(mat_struct(name=relu_name(name), type="relu",
                                  stride=np.zeros((0, 0)), **relu_params))
    return mat_cell(*entries)


@pytest.mark.parametrize("layout", ["normalization", "meta", "filters"])
def test_matconvnet_round_trip(tmp_path, layout):
    original = random_weights("vgg19", width=WIDTH, seed=1)
    rgb = np.array([123.68, 116.779, 103.939])
    if layout == "meta":
        average = rgb[:, None]  # one pixel, 3 x 1
        top = {"meta": mat_struct(normalization=mat_struct(averageImage=average),
                                  classes=mat_struct(name=mat_cell("n01440764")))}
    else:
        average = np.tile(rgb, (4, 4, 1)) + np.linspace(-1, 1, 16).reshape(4, 4, 1)
        top = {"normalization": mat_struct(averageImage=average)}
    path = tmp_path / "imagenet-vgg-verydeep-19.mat"
    scipy.io.savemat(path, {"layers": matconvnet_layers(original, layout), **top})

    loaded = load_weights(path)

    assert loaded.mismatches(original) == []
    assert loaded.arch == "vgg19" and loaded.source == "matconvnet mat"
    assert loaded.channel_order == "RGB"
    np.testing.assert_allclose(loaded.mean, rgb, atol=1e-9)


def test_matconvnet_without_mean_is_refused(tmp_path):
    path = tmp_path / "nomean.mat"
    scipy.io.savemat(path, {"layers": matconvnet_layers(random_weights(width=WIDTH), "meta")})
    with pytest.raises(WeightsError, match=r"nomean\.mat: no normalization\.averageImage"):
        load_weights(path)



@pytest.mark.parametrize("params", ["kernel and empty bias", "kernel only"])
def test_matconvnet_layer_without_bias(tmp_path, params):
    """MatConvNet writes a bias-less layer as weights = {kernel, []} or {kernel}."""
    original = random_weights("vgg16", width=WIDTH, seed=3)
    kernel = np.random.default_rng(3).standard_normal((4, 4, 3, 3)).astype(np.float32)
    cell = mat_cell(kernel, np.zeros((0, 0))) if params == "kernel and empty bias" \
        else mat_cell(kernel)
    upscore = mat_struct(name="upscore", type="convt", weights=cell)
    entries = list(matconvnet_layers(original, "meta").reshape(-1)) + [upscore]
    path = tmp_path / "nobias.mat"
    scipy.io.savemat(path, {"layers": mat_cell(*entries),
                            "normalization": mat_struct(averageImage=np.ones((1, 3)))})

    loaded = load_weights(path)

    assert np.array_equal(loaded.layers["upscore"][0], kernel)
    assert loaded.layers["upscore"][1] is None
    assert loaded.mismatches(original) == ["upscore"]

def test_matconvnet_kernels_as_stored_unless_swap_asked(tmp_path, capsys):
    """MatConvNet's importer writes Caffe's kernels H x W x in x out: the swap is opt-in."""
    original = random_weights("vgg16", width=WIDTH, seed=8)
    path = tmp_path / "imagenet-vgg-verydeep-16.mat"
    scipy.io.savemat(path, {"layers": matconvnet_layers(original, "meta"),
                            "meta": mat_struct(normalization=mat_struct(
                                averageImage=np.array([[123.68], [116.779], [103.939]])))})

    stored = load_weights(path)
    swapped = load_weights(path, matconvnet_swap_hw=True)

    assert stored.mismatches(original) == []
    assert swapped.source == "matconvnet mat, H and W swapped"
    for name, (kernel, bias) in original.layers.items():
        assert np.array_equal(swapped.layers[name][0], kernel.transpose(1, 0, 2, 3))
        assert np.array_equal(swapped.layers[name][1], bias)
    assert "conv1_1" in swapped.mismatches(original)
    assert main(["weights", "inspect", str(path), "--matconvnet-swap-hw"]) == 0
    assert "(matconvnet mat, H and W swapped)" in capsys.readouterr().out


# --- TF-slim: tf.compat.v1.train.Saver with vgg_16/... names -------------------------------

def slim_name(arch, layer):
    net = arch.replace("vgg", "vgg_")
    block = f"conv{layer[4]}/" if layer.startswith("conv") else ""
    return f"{net}/{block}{layer}"


def write_slim_checkpoint(weights, prefix, write_version=tf.compat.v1.train.SaverDef.V2):
    with tf.Graph().as_default():
        variables = [tf.compat.v1.train.get_or_create_global_step()]
        for layer, (kernel, bias) in weights.layers.items():
            scope = slim_name(weights.arch, layer)
            variables.append(tf.compat.v1.Variable(kernel, name=f"{scope}/weights"))
            variables.append(tf.compat.v1.Variable(bias, name=f"{scope}/biases"))
        # An optimizer slot, as in checkpoints saved during training.
        variables.append(tf.compat.v1.Variable(np.zeros(3, np.float32),
                                               name=f"{slim_name(weights.arch, 'conv1_1')}"
                                                    f"/weights/Momentum"))
        saver = tf.compat.v1.train.Saver(variables, write_version=write_version)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, str(prefix), write_meta_graph=False)


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_slim_checkpoint_round_trip(tmp_path, arch):
    original = random_weights(arch, width=WIDTH, seed=2)
    saved = write_slim_checkpoint(original, tmp_path / f"{arch}.ckpt")

    for path in (saved, tmp_path, saved + ".index"):
        loaded = load_weights(path, arch=arch)
        assert loaded.mismatches(original) == []
        assert (loaded.channel_order, loaded.mean) == ("RGB", SLIM_RGB_MEAN)
        assert loaded.source == "tf-slim checkpoint"


def test_slim_v1_single_file_checkpoint(tmp_path):
    # The 2016 vgg_16.ckpt release is one V1 table file with no .index.
    original = random_weights("vgg16", width=WIDTH, seed=4)
    saved = write_slim_checkpoint(original, tmp_path / "vgg_16.ckpt",
                                  tf.compat.v1.train.SaverDef.V1)
    assert not (tmp_path / "vgg_16.ckpt.index").exists()
    assert detect_format(saved) == "checkpoint"
    assert load_weights(saved).mismatches(original) == []


# --- Caffe: NetParameter bytes written with protobuf, both layer lists ----------------------

@pytest.mark.parametrize("legacy", [False, True], ids=["layer", "layers_v1"])
def test_caffemodel_round_trip(tmp_path, legacy):
    original = random_weights("vgg16", width=WIDTH, seed=5)
    path = tmp_path / "VGG_ILSVRC_16_layers.caffemodel"
    path.write_bytes(caffe_net(vgg_records(original), legacy).SerializeToString())

    loaded = load_weights(path)

    assert loaded.mismatches(original) == []
    assert (loaded.channel_order, loaded.mean) == ("BGR", REFERENCE_BGR_MEAN)
    assert loaded.source == "caffe caffemodel"


def repeated_rows_blob_bytes(rows, count):
    """A serialized legacy (1, 1, count, width) BlobProto whose row i is rows[i % len(rows)].

    Serialized protobuf messages merge when concatenated and packed
    repeated fields append, so the 400 MB blob is a few serialized copies
    of `rows` joined, rather than 100 million floats passed through Python.
    """
    header = caffe_proto.BlobProto(num=1, channels=1, height=count, width=rows.shape[1])
    chunk = caffe_proto.BlobProto(data=rows.reshape(-1).tolist()).SerializeToString()
    return header.SerializeToString() + chunk * (count // len(rows))


def test_caffe_fc6_in_channel_height_width_order(tmp_path):
    # Full-size fc6 as Caffe stores it: (4096, 25088) over C, H, W.
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((64, 25088), dtype=np.float32)
    fc6_hwio = np.tile(rows, (4096 // 64, 1)).reshape(4096, 512, 7, 7).transpose(2, 3, 1, 0)
    assert fc6_hwio[2, 5, 3, 7] == rows[7, 3 * 49 + 2 * 7 + 5]  # C, H, W flattening
    # conv5_3 alone tells the depth and feeds fc6 its 512 channels.
    conv5_3 = random_weights("vgg16", width=1.0, include_top=False).layers["conv5_3"]
    net = caffe_net([("conv5_3", "Convolution", caffe_blobs("conv5_3", *conv5_3,
                                                            "Convolution"))], legacy=True)
    fc6 = net.layers.add(name="fc6", type=V1_ENUM["InnerProduct"])
    fc6.blobs.add().MergeFromString(repeated_rows_blob_bytes(rows, 4096))
    fill_blob(fc6.blobs.add(), np.zeros(4096, np.float32), legacy=True)
    path = tmp_path / "vgg.caffemodel"
    path.write_bytes(net.SerializeToString())

    loaded = load_weights(path).layers["fc6"][0]

    assert loaded.shape == (7, 7, 512, 4096)
    assert np.array_equal(loaded, fc6_hwio)


def test_fcn_caffemodel_with_heads(tmp_path):
    """The released FCN-8s: fc6/fc7 as convolutions, score layers, deconvolutions, Scale."""
    classes = 21
    backbone = random_weights("vgg16", width=WIDTH, seed=6, fc8_classes=None)
    rng = np.random.default_rng(1)
    fc, pool4, pool3 = 256, 32, 16
    heads = {
        "score_fr": (rng.standard_normal((1, 1, fc, classes)), rng.standard_normal(classes)),
        "score_pool4": (rng.standard_normal((1, 1, pool4, classes)), rng.standard_normal(classes)),
        "score_pool3": (rng.standard_normal((1, 1, pool3, classes)), rng.standard_normal(classes)),
    }
    records = vgg_records(backbone, fc_type="Convolution")
    records += [(n, "Convolution", caffe_blobs(n, k, b, "Convolution")) for n, (k, b) in
                heads.items()]
    ups = {"upscore2": 2, "upscore_pool4": 2, "upscore8": 8}
    for name, factor in ups.items():
        # Caffe's Deconvolution blob is (in, out, kh, kw).
        records.append((name, "Deconvolution", [bilinear_kernel(factor, classes)
                                                 .transpose(3, 2, 0, 1)]))
    records.append(("scale_pool4", "Scale", [np.array([0.01])]))
    path = tmp_path / "fcn8s-atonce-pascal.caffemodel"
    path.write_bytes(caffe_net(records, legacy=False).SerializeToString())

    loaded = load_weights(path, arch="vgg16")

    assert loaded.missing_backbone_layers() == []
    assert sorted(loaded.head_layers()) == sorted(list(heads) + list(ups))
    for name, (kernel, bias) in heads.items():
        np.testing.assert_allclose(loaded.layers[name][0], kernel, rtol=1e-6)
    for name, factor in ups.items():
        np.testing.assert_array_equal(loaded.layers[name][0], bilinear_kernel(factor, classes))
        assert loaded.layers[name][1] is None
    assert loaded.ignored == ("scale_pool4",)


def test_truncated_caffemodel(tmp_path):
    data = caffe_net(vgg_records(random_weights("vgg16", width=WIDTH)),
                     legacy=False).SerializeToString()
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(WeightsError, match=r"cut\.caffemodel: not a Caffe NetParameter, or "
                                           r"truncated"):
        load_weights(path)


def test_caffemodel_vgg19_refused_for_vgg16(tmp_path):
    path = tmp_path / "VGG_ILSVRC_19_layers.caffemodel"
    path.write_bytes(caffe_net(vgg_records(random_weights("vgg19", width=WIDTH)), legacy=True)
                     .SerializeToString())
    with pytest.raises(WeightsError, match=r"19_layers\.caffemodel: holds vgg19 weights"):
        load_weights(path, arch="vgg16")


# --- canonical npz, detection and errors ------------------------------------------------------

def test_canonical_npz_round_trip(tmp_path):
    original = random_weights("vgg19", width=WIDTH, seed=7, channel_order="RGB",
                              mean=(1.0, 2.0, 3.0))
    save_npz(original, tmp_path / "w.npz")
    assert detect_format(tmp_path / "w.npz") == "npz"
    loaded = load_weights(tmp_path / "w.npz")
    assert loaded.mismatches(original) == []
    assert (loaded.arch, loaded.channel_order, loaded.mean) == ("vgg19", "RGB", (1.0, 2.0, 3.0))
    # No pickle anywhere: numpy reads every array with pickles disallowed.
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(WeightsError, match=r"other\.npz: \.npz without meta/arch"):
        load_weights(tmp_path / "other.npz")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x1f\x8b\x08\x00rest", "a gzip archive; unpack it first"),
    (b"<!DOCTYPE html><html>Not found</html>", "an HTML page"),
    (b"\xff\xfe random bytes", "unknown weight format"),
    (b"\x89HDF\r\n\x1a\nbroken", "unreadable HDF5 file"),
    (b"MATLAB 5.0 MAT-file, truncated", "unreadable .mat file"),
    (b"MATLAB 7.3 MAT-file" + b" " * 200, "MATLAB v7.3"),
])
def test_unusable_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=rf"weights\.bin: {message}"):
        load_weights(path)


def test_format_comes_from_content_not_extension(tmp_path):
    path = tmp_path / "really_a_caffemodel.h5"
    path.write_bytes(caffe_net(vgg_records(random_weights("vgg16", width=WIDTH)), legacy=False)
                     .SerializeToString())
    assert detect_format(path) == "caffemodel"
    assert load_weights(path).source == "caffe caffemodel"


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"nothere\.npy: the file does not exist"):
        load_weights(tmp_path / "nothere.npy")
