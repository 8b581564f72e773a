"""Dataset sources by name.

Sources register themselves with `@register_dataset("name")` when their
module is imported; `fcn_graph.data` imports every built-in source module,
so the registry is complete once the package is.
"""
from fcn_graph.data.base import RESIZE_METHODS, DataError

_SOURCES = {}


def register_dataset(name):
    """Class decorator: make a Dataset subclass available as `get_dataset(name)`."""
    def decorate(cls):
        if name in _SOURCES and _SOURCES[name] is not cls:
            raise DataError(f"dataset name {name!r} is registered twice")
        cls.name = name
        _SOURCES[name] = cls
        return cls
    return decorate


def available_datasets():
    return sorted(_SOURCES)


def dataset_class(name):
    """The registered class of `name` (class-level facts such as class names, without data)."""
    if name not in _SOURCES:
        raise DataError(f"unknown dataset {name!r}; available: {', '.join(sorted(_SOURCES))}")
    return _SOURCES[name]


def get_dataset(name, data_dir=None, **options):
    """The source registered as `name`, reading `data_dir`, with source-specific options and
    the resize methods every source takes (`base.RESIZE_METHODS`)."""
    cls = dataset_class(name)
    methods = {option: options.pop(option) for option in RESIZE_METHODS if option in options}
    try:
        source = cls(data_dir, **options)
    except TypeError as err:
        raise DataError(f"dataset {name!r} rejected options {sorted(options)}: {err}") from err
    source.set_resize_methods(**methods)
    return source


def parse_option(text):
    """'key=value' from the command line -> (key, value); sizes 'WxH' become (height, width)."""
    if "=" not in text:
        raise DataError(f"dataset option {text!r} is not key=value (e.g. size=384x160, num_train=200)")
    key, value = text.split("=", 1)
    return key.strip(), _parse_value(value.strip())


def _parse_value(value):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    parts = lowered.split("x")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[1]), int(parts[0])
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_options(texts):
    return dict(parse_option(t) for t in texts or ())
