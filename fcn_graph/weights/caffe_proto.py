"""The part of Caffe's `caffe.proto` that holds trained parameters, as protobuf messages.

Field numbers follow BVLC/caffe `src/caffe/proto/caffe.proto`. Only the
fields a weight loader reads are declared; protobuf skips the others
(layer settings, solver state) as unknown fields. V1 layer types are an
enum in caffe.proto; they are declared as int32 here (same wire format)
so that types missing from this subset still parse.
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

FieldProto = descriptor_pb2.FieldDescriptorProto

# V1LayerParameter.LayerType values of the layers that carry weights.
V1_TYPES = {4: "Convolution", 14: "InnerProduct", 39: "Deconvolution"}

# message -> [(field name, number, type, label, message type, packed)]
OPTIONAL, REPEATED = FieldProto.LABEL_OPTIONAL, FieldProto.LABEL_REPEATED
MESSAGES = {
    "BlobShape": [("dim", 1, FieldProto.TYPE_INT64, REPEATED, None, True)],
    "BlobProto": [
        ("shape", 7, FieldProto.TYPE_MESSAGE, OPTIONAL, "BlobShape", False),
        ("data", 5, FieldProto.TYPE_FLOAT, REPEATED, None, True),
        ("double_data", 8, FieldProto.TYPE_DOUBLE, REPEATED, None, True),
        ("num", 1, FieldProto.TYPE_INT32, OPTIONAL, None, False),
        ("channels", 2, FieldProto.TYPE_INT32, OPTIONAL, None, False),
        ("height", 3, FieldProto.TYPE_INT32, OPTIONAL, None, False),
        ("width", 4, FieldProto.TYPE_INT32, OPTIONAL, None, False),
    ],
    "LayerParameter": [
        ("name", 1, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("type", 2, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("blobs", 7, FieldProto.TYPE_MESSAGE, REPEATED, "BlobProto", False),
    ],
    "V0LayerParameter": [
        ("name", 1, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("type", 2, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("blobs", 50, FieldProto.TYPE_MESSAGE, REPEATED, "BlobProto", False),
    ],
    "V1LayerParameter": [
        ("name", 4, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("type", 5, FieldProto.TYPE_INT32, OPTIONAL, None, False),
        ("blobs", 6, FieldProto.TYPE_MESSAGE, REPEATED, "BlobProto", False),
        ("layer", 1, FieldProto.TYPE_MESSAGE, OPTIONAL, "V0LayerParameter", False),
    ],
    "NetParameter": [
        ("name", 1, FieldProto.TYPE_STRING, OPTIONAL, None, False),
        ("layer", 100, FieldProto.TYPE_MESSAGE, REPEATED, "LayerParameter", False),
        ("layers", 2, FieldProto.TYPE_MESSAGE, REPEATED, "V1LayerParameter", False),
    ],
}


def build_file_descriptor():
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="fcn_graph/caffe_weights.proto", package="caffe", syntax="proto2")
    for message_name, fields in MESSAGES.items():
        message = file_proto.message_type.add(name=message_name)
        for name, number, field_type, label, type_name, packed in fields:
            field = message.field.add(name=name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = f".caffe.{type_name}"
            if packed:
                field.options.packed = True
    return file_proto


def message_classes():
    """{message name: generated class}, from a private pool so no global name can clash."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(build_file_descriptor().SerializeToString())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
            for name in MESSAGES}


CLASSES = message_classes()
NetParameter = CLASSES["NetParameter"]
BlobProto = CLASSES["BlobProto"]
