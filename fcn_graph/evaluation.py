"""Scoring a trained run, or a released FCN model file, on a whole dataset split.

Every image goes through a tf.data pipeline at its native size, batch 1,
without augmentation (unless test-time augmentation is asked for), and ONE confusion matrix is accumulated over the
split before any score is computed (averaging per-image scores would weigh
small images like large ones). With CRF refinement the same images are
scored twice, with and without it, so the two rows compare like for like.
"""
import tensorflow as tf

from fcn_graph.convention import InputConvention
from fcn_graph.data import get_dataset
from fcn_graph.errors import SettingsError, WeightsError
from fcn_graph.inference import InferenceNetwork, InferenceOptions, crf_settings
from fcn_graph.models import ModelSpec, build
from fcn_graph.rundir import checkpoint_restorer, load_record, resolve_checkpoint
from fcn_graph.scoring import SplitScorer
from fcn_graph.vgg import BLOCK_CHANNELS
from fcn_graph.weights import load_weights, restore_backbone

v1 = tf.compat.v1


def evaluate_graph(source, split, spec, restorer, crf=None, max_images=None, options=None):
    """Score network `spec` with values loaded by `restorer` on a split, in a graph of its own.

    `restorer()` is called once the network exists (graph time) and returns
    `restore(sess)`, run after the variables initializer. With `crf` (True
    or a dict of `fcn_graph.crf.refine` keywords) the report also holds the
    scores after dense-CRF refinement, under `crf_scores`. `options`
    (`InferenceOptions`) tiles or augments each image; whole-image
    inference runs in the graph, on the input pipeline's images. On KITTI
    road the report also holds the road benchmark's scores, under `road`.
    """
    options = options or InferenceOptions()
    spec = options.network(spec)
    graph = tf.Graph()
    with graph.as_default():
        scoring = dict(max_images=max_images, crf_options=crf_settings(crf),
                       road_class=road_class(source))
        if options.whole_image:
            scorer = SplitScorer(source, split, lambda images: build(spec, images),
                                 **scoring)
        else:
            network = InferenceNetwork(spec)
            options.check_stride(network.stride)
            scorer = SplitScorer(source, split, predict=lambda sess, image: (
                network.probabilities_of(network.runner(sess), image, options)), **scoring)
        initialize = v1.global_variables_initializer()
        restore = restorer()
    graph.finalize()
    with v1.Session(graph=graph) as sess:
        sess.run(initialize)
        restore(sess)
        report, _ = scorer.score(sess)
    report["inference"] = options.describe()
    return report


def road_class(source):
    """The class the KITTI road benchmark scores, for the KITTI road dataset; else None."""
    return list(source.class_names).index("road") if source.name == "kitti" else None


def evaluation_source(record, dataset=None, data_dir=None, dataset_options=None):
    """The run's own dataset (with its options, updated by `dataset_options`) unless another is named."""
    settings = record.settings
    name = dataset or settings.get("dataset")
    if not name:
        raise SettingsError("the run's config.json names no dataset; pass --dataset")
    same = name == settings.get("dataset")
    options = dict(settings.get("dataset_options") or {}) if same else {}
    options.update(dataset_options or {})
    directory = data_dir if data_dir is not None else (settings.get("data_dir") if same else None)
    source = get_dataset(name, directory, **options)
    if source.num_classes != record.num_classes:
        raise SettingsError(f"dataset {name!r} has {source.num_classes} classes but the network "
                            f"was trained for {record.num_classes}; evaluate on a dataset with "
                            f"the same classes")
    return source


def evaluate_run(checkpoint, dataset=None, data_dir=None, split="val", crf=None,
                 max_images=None, dataset_options=None, options=None):
    """Scores of a trained run (directory or checkpoint) on a dataset split.

    The dataset defaults to the run's own. `crf` is True or a dict of
    `fcn_graph.crf.refine` options to also report CRF-refined scores
    under `crf_scores`; `options` as in `evaluate_graph`.
    """
    checkpoint_path = resolve_checkpoint(checkpoint)
    record = load_record(checkpoint)
    source = evaluation_source(record, dataset, data_dir, dataset_options)
    result = evaluate_graph(source, split, record.model,
                            lambda: checkpoint_restorer(checkpoint_path),
                            crf=crf, max_images=max_images, options=options)
    result.update(checkpoint=checkpoint_path, model=record.model.name)
    return result


def released_model_spec(path, weights, model):
    """The spec of a released FCN model file: reference geometry, the file's own convention."""
    absent = [layer for layer in ("conv1_1", "score_fr") if layer not in weights.layers]
    if absent:
        raise WeightsError(f"{path}: holds no {' or '.join(absent)}; eval --weights needs a "
                           f"trained FCN model, not a classification backbone")
    # Released models are full width; narrower files (demos, tests) say so by conv1_1.
    width = weights.layers["conv1_1"][0].shape[-1] / BLOCK_CHANNELS[0]
    return ModelSpec(name=model, num_classes=weights.layers["score_fr"][0].shape[-1],
                     backbone=weights.arch, geometry="caffe", width=width, dropout_rate=0.0,
                     convention=InputConvention(weights.channel_order, tuple(weights.mean)))


def evaluate_weights(path, model, dataset, data_dir=None, split="val", crf=None,
                     max_images=None, dataset_options=None, weight_options=None, options=None):
    """Scores of a released FCN model file (e.g. a Caffe .caffemodel) without a run directory.

    The network is built in the reference (caffe) geometry with the file's
    own input convention (or the one `weight_options` of `load_weights`
    give), and every layer, heads included, comes from the file.
    """
    weights = load_weights(path, **(weight_options or {}))
    spec = released_model_spec(path, weights, model)
    source = get_dataset(dataset, data_dir, **(dataset_options or {}))
    if source.num_classes != spec.num_classes:
        raise WeightsError(f"{path}: scores {spec.num_classes} classes but dataset {dataset!r} "
                           f"has {source.num_classes}; evaluate on the dataset the model was "
                           f"trained for")

    def restorer():
        layers = sorted({v.op.name.rsplit("/", 1)[0] for v in v1.global_variables()})

        def restore(sess):
            report = restore_backbone(sess, weights, strict=True, include_head=True)
            missing = [layer for layer in layers if layer not in report]
            unused = [layer for layer in report.unused if layer != "fc8"]
            if missing or unused:
                raise WeightsError(
                    f"{path}: does not hold a complete {model} (missing: "
                    f"{', '.join(missing) or 'none'}; layers of another head: "
                    f"{', '.join(unused) or 'none'}); pass the --model the file was trained as")
        return restore

    result = evaluate_graph(source, split, spec, restorer, crf=crf, max_images=max_images,
                            options=options)
    result.update(weights=path, model=model)
    return result
