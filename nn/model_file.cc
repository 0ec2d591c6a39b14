#include "nn/model_file.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "nn/activation.h"
#include "nn/checkpoint.h"
#include "nn/module_kinds.h"
#include "ops/functional.h"
#include "ops/plugin.h"
#include "ops/registry.h"

namespace actgrad::nn {

namespace {

constexpr char kMetadataKey[] = "actgrad";
constexpr char kFormat[] = "actgrad.model.v1";
// A bound on the tree a file may describe, far above any real network.
constexpr int kMaxModules = 100000;

// A one-input tensor op (a plugin's, ops/plugin.h) as a layer: an
// nn::Activation of the op, its params the options, saved by the op's name
// like an activation, and rebuilt once the plugin is loaded again.
ModuleKind TensorOpKind(const OpDef& op) {
  return {
      .name = std::string(op.name),
      .build = [&op](const ModuleConfig& config,
                     std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
        Attrs attrs;
        for (const auto& [key, value] : config.entries()) {
          const AttrSpec* spec = nullptr;
          for (const AttrSpec& s : op.attrs) {
            if (s.name == key && s.param >= 0) spec = &s;
          }
          if (spec == nullptr) {
            return absl::InvalidArgumentError(
                absl::StrCat(key, ": not a param of the tensor op ", op.name));
          }
          absl::StatusOr<double> v = config.Number(key);
          if (!v.ok()) return v.status();
          attrs.params[spec->param] = *v;
        }
        return std::unique_ptr<Module>(std::make_unique<Activation>(op, attrs));
      },
      .own_shapes =
          [](const ModuleConfig&) -> absl::StatusOr<std::vector<std::pair<std::string, Shape>>> {
        return std::vector<std::pair<std::string, Shape>>{};
      }};
}

// ModuleKinds::Find, and for a registered one-input tensor op a kind made
// and registered on first use: plugins register their ops after start-up.
absl::StatusOr<const ModuleKind*> FindKind(const std::string& name) {
  absl::StatusOr<const ModuleKind*> kind = ModuleKinds::Global().Find(name);
  if (kind.ok()) return kind;
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  if (!op.ok()) return kind;
  const TensorOpDefinition* definition = TensorOpDefinitionOf(**op);
  if (definition == nullptr || definition->num_inputs != 1) return kind;
  static auto* mutex = new std::mutex();
  std::lock_guard<std::mutex> lock(*mutex);
  if (!ModuleKinds::Global().Find(name).ok()) ModuleKinds::Global().Register(TensorOpKind(**op));
  return ModuleKinds::Global().Find(name);
}

// ---------------------------------------------------------------- writing

void WriteConfigValue(const ModuleConfig::Value& value, io::JsonWriter& out) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out.Bool(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out.Int(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out.Number(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out.String(v);
        } else {
          out.BeginArray();
          for (const auto& item : v) WriteConfigValue(ModuleConfig::Value(item), out);
          out.EndArray();
        }
      },
      value);
}

// The tree under `module`, refusing kinds nothing could rebuild: the root
// and the children of containers are built by the loader; other children by
// their parent's constructor, so their kinds need no registration.
absl::Status WriteModule(Module& module, const std::string& path, bool built_by_loader,
                         io::JsonWriter& out) {
  const std::string kind = module.Kind();
  absl::StatusOr<const ModuleKind*> registered = FindKind(kind);
  if (built_by_loader && !registered.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Save: the module ", path.empty() ? "at the root" : absl::StrCat("\"", path, "\""),
        " is of kind \"", kind,
        "\", which is not registered, so no file could rebuild it; give it a Kind() and "
        "Config() and register it with ACTGRAD_REGISTER_MODULE_KIND"));
  }
  out.BeginObject().Key("kind").String(kind).Key("options").BeginObject();
  const ModuleConfig config = module.Config();
  for (const auto& [key, value] : config.entries()) {
    out.Key(key);
    WriteConfigValue(value, out);
  }
  out.EndObject().Key("children").BeginArray();
  for (auto& [name, child] : module.NamedChildren()) {
    out.BeginObject().Key("name").String(name).Key("module");
    if (absl::Status s = WriteModule(*child, path.empty() ? name : absl::StrCat(path, ".", name),
                                     registered.ok() && (*registered)->takes_children, out);
        !s.ok()) {
      return s;
    }
    out.EndObject();
  }
  out.EndArray().EndObject();
  return absl::OkStatus();
}

void WriteStrings(const std::vector<std::string>& values, io::JsonWriter& out) {
  out.BeginArray();
  for (const std::string& v : values) out.String(v);
  out.EndArray();
}

void WriteNumbers(const std::vector<double>& values, io::JsonWriter& out) {
  out.BeginArray();
  for (double v : values) out.Number(v);
  out.EndArray();
}

// ---------------------------------------------------------------- reading

// A module of the description, checked for shape but not yet built.
struct Node {
  std::string path;  // "architecture.children[0].module", for messages
  std::string name;  // dotted name in the model ("block1.fc1"; "" at the root)
  std::string kind;
  ModuleConfig config;
  std::vector<std::pair<std::string, Node>> children;
};

std::string Where(const Node& node) {
  return absl::StrCat(node.path,
                      node.name.empty() ? " (the root" : absl::StrCat(" (\"", node.name, "\""),
                      ", ", node.kind, ")");
}

absl::Status Refuse(absl::string_view file, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": not a usable model: ", why));
}

absl::StatusOr<ModuleConfig::Value> ReadConfigValue(const io::JsonValue& v,
                                                    const std::string& field) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (v.IsBool()) return ModuleConfig::Value(v.GetBool());
  if (v.IsInt64()) return ModuleConfig::Value(v.GetInt64());
  if (v.IsNumber()) return ModuleConfig::Value(v.GetDouble());
  if (v.IsString()) return ModuleConfig::Value(std::string(v.GetString(), v.GetStringLength()));
  if (!v.IsArray()) return bad(absl::StrCat("an option cannot be ", io::JsonTypeName(v)));
  bool all_ints = true, all_numbers = true, all_strings = true;
  for (const io::JsonValue& item : v.GetArray()) {
    all_ints &= item.IsInt64();
    all_numbers &= item.IsNumber();
    all_strings &= item.IsString();
  }
  if (all_ints) {
    std::vector<int64_t> out;
    for (const io::JsonValue& item : v.GetArray()) out.push_back(item.GetInt64());
    return ModuleConfig::Value(std::move(out));
  }
  if (all_numbers) {
    std::vector<double> out;
    for (const io::JsonValue& item : v.GetArray()) out.push_back(item.GetDouble());
    return ModuleConfig::Value(std::move(out));
  }
  if (all_strings) {
    std::vector<std::string> out;
    for (const io::JsonValue& item : v.GetArray()) {
      out.emplace_back(item.GetString(), item.GetStringLength());
    }
    return ModuleConfig::Value(std::move(out));
  }
  return bad("a list option must hold only numbers or only text");
}

const io::JsonValue* Member(const io::JsonValue& object, const char* key) {
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

absl::StatusOr<Node> ReadNode(const io::JsonValue& v, std::string path, std::string name,
                              int* count) {
  if (++*count > kMaxModules) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the architecture lists more than ", kMaxModules, " modules"));
  }
  if (!v.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected an object, found ", io::JsonTypeName(v)));
  }
  Node node{.path = path, .name = std::move(name)};
  for (const auto& m : v.GetObject()) {
    const std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key != "kind" && key != "options" && key != "children") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", key, ": not a field of a module (kind, options, children)"));
    }
  }
  const io::JsonValue* kind = Member(v, "kind");
  const io::JsonValue* options = Member(v, "options");
  const io::JsonValue* children = Member(v, "children");
  if (kind == nullptr || !kind->IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".kind: expected text, found ",
                                                   kind ? io::JsonTypeName(*kind) : "nothing"));
  }
  node.kind.assign(kind->GetString(), kind->GetStringLength());
  if (options != nullptr) {
    if (!options->IsObject()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".options: expected an object, found ", io::JsonTypeName(*options)));
    }
    for (const auto& m : options->GetObject()) {
      const std::string key(m.name.GetString(), m.name.GetStringLength());
      if (node.config.Has(key)) {
        return absl::InvalidArgumentError(absl::StrCat(path, ".options.", key, ": given twice"));
      }
      absl::StatusOr<ModuleConfig::Value> value =
          ReadConfigValue(m.value, absl::StrCat(path, ".options.", key));
      if (!value.ok()) return value.status();
      node.config.Set(key, *std::move(value));
    }
  }
  if (children != nullptr) {
    if (!children->IsArray()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".children: expected an array, found ", io::JsonTypeName(*children)));
    }
    for (rapidjson::SizeType i = 0; i < children->Size(); ++i) {
      const io::JsonValue& child = (*children)[i];
      const std::string child_path = absl::StrCat(path, ".children[", i, "]");
      const io::JsonValue* child_name = child.IsObject() ? Member(child, "name") : nullptr;
      const io::JsonValue* child_module = child.IsObject() ? Member(child, "module") : nullptr;
      if (child_name == nullptr || !child_name->IsString() || child_module == nullptr ||
          child.MemberCount() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(child_path, ": expected {\"name\": ..., \"module\": {...}}"));
      }
      const std::string local(child_name->GetString(), child_name->GetStringLength());
      if (local.empty() || local.find('.') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(child_path, ".name: \"", local, "\" is empty or dotted"));
      }
      for (const auto& [seen, unused] : node.children) {
        if (seen == local) {
          return absl::InvalidArgumentError(
              absl::StrCat(child_path, ".name: \"", local, "\" is used twice"));
        }
      }
      absl::StatusOr<Node> read =
          ReadNode(*child_module, absl::StrCat(child_path, ".module"),
                   node.name.empty() ? local : absl::StrCat(node.name, ".", local), count);
      if (!read.ok()) return read.status();
      node.children.emplace_back(local, *std::move(read));
    }
  }
  return node;
}

// Compares the shapes each kind's options ask for with the file's tensors,
// before anything is built.
absl::Status CheckShapes(const Node& node, bool built_by_loader,
                         const std::map<std::string, const Tensor*>& tensors) {
  absl::StatusOr<const ModuleKind*> kind = FindKind(node.kind);
  if (!kind.ok()) {
    // A child its parent builds may be of a kind of no registry.
    if (!built_by_loader) {
      for (const auto& [local, child] : node.children) {
        if (absl::Status s = CheckShapes(child, false, tensors); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(Where(node), ": ", kind.status().message()));
  }
  if ((*kind)->own_shapes) {
    absl::StatusOr<std::vector<std::pair<std::string, Shape>>> shapes =
        (*kind)->own_shapes(node.config);
    if (!shapes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(node), ": options.", shapes.status().message()));
    }
    for (const auto& [local, shape] : *shapes) {
      const std::string key = node.name.empty() ? local : absl::StrCat(node.name, ".", local);
      auto it = tensors.find(key);
      if (it == tensors.end()) {
        return absl::InvalidArgumentError(absl::StrCat(Where(node), ": its options need tensor \"",
                                                       key, "\" ", shape.ToString(),
                                                       ", which the file does not hold"));
      }
      if (it->second->shape() != shape) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(node), ": its options need tensor \"", key, "\" to be ",
                         shape.ToString(), "; the file holds ", it->second->shape().ToString()));
      }
    }
  }
  for (const auto& [local, child] : node.children) {
    if (absl::Status s = CheckShapes(child, (*kind)->takes_children, tensors); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The built module's tree must be the one described: same names, same kinds.
absl::Status CheckTree(Module& module, const Node& node) {
  if (module.Kind() != node.kind) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(node), ": the rebuilt module is of kind \"", module.Kind(), "\""));
  }
  const std::vector<std::pair<std::string, Module*>> children = module.NamedChildren();
  std::vector<std::string> built, described;
  for (const auto& [name, unused] : children) built.push_back(name);
  for (const auto& [name, unused] : node.children) described.push_back(name);
  if (built != described) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(node), ": the description lists the children [", absl::StrJoin(described, ", "),
        "] but the rebuilt module has [", absl::StrJoin(built, ", "), "]"));
  }
  for (size_t i = 0; i < children.size(); ++i) {
    if (absl::Status s = CheckTree(*children[i].second, node.children[i].second); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Module>> Build(const Node& node) {
  absl::StatusOr<const ModuleKind*> kind = FindKind(node.kind);
  if (!kind.ok())
    return absl::InvalidArgumentError(absl::StrCat(Where(node), ": ", kind.status().message()));
  std::vector<NamedModule> children;
  if ((*kind)->takes_children) {
    for (const auto& [local, child] : node.children) {
      absl::StatusOr<std::unique_ptr<Module>> built = Build(child);
      if (!built.ok()) return built.status();
      children.emplace_back(local, *std::move(built));
    }
  }
  absl::StatusOr<std::unique_ptr<Module>> module;
  try {
    module = (*kind)->build(node.config, children);
  } catch (const Error& e) {
    module = absl::InvalidArgumentError(e.message());
  }
  if (!module.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(node), ": options.", module.status().message()));
  }
  if (*module == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(Where(node), ": its kind built nothing"));
  }
  return module;
}

absl::StatusOr<std::vector<std::string>> ReadStrings(const io::JsonValue& object, const char* key) {
  std::vector<std::string> out;
  const io::JsonValue* v = Member(object, key);
  if (v == nullptr) return out;
  if (!v->IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": expected an array of text, found ", io::JsonTypeName(*v)));
  }
  for (const io::JsonValue& item : v->GetArray()) {
    if (!item.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": expected an array of text, found ",
                                                     io::JsonTypeName(item), " in it"));
    }
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

absl::StatusOr<std::vector<double>> ReadFiniteNumbers(const io::JsonValue& object, const char* key,
                                                      const char* owner) {
  const io::JsonValue* v = Member(object, key);
  std::vector<double> out;
  if (v == nullptr || !v->IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat(owner, ".", key, ": expected an array of numbers"));
  }
  for (const io::JsonValue& item : v->GetArray()) {
    if (!item.IsNumber() || !std::isfinite(item.GetDouble())) {
      return absl::InvalidArgumentError(
          absl::StrCat(owner, ".", key, ": expected finite numbers only"));
    }
    out.push_back(item.GetDouble());
  }
  return out;
}

absl::StatusOr<ModelInfo> ReadInfo(const io::JsonValue& root) {
  ModelInfo info;
  if (const io::JsonValue* task = Member(root, "task"); task != nullptr && !task->IsNull()) {
    if (!task->IsString()) return absl::InvalidArgumentError("task: expected text or null");
    absl::StatusOr<Task> parsed = ParseTask(task->GetString());
    if (!parsed.ok())
      return absl::InvalidArgumentError(absl::StrCat("task: ", parsed.status().message()));
    info.task = *parsed;
  }
  if (const io::JsonValue* output = Member(root, "output"); output != nullptr) {
    const std::string name = output->IsString() ? output->GetString() : "";
    if (name == "values") {
      info.output = ModelOutput::kValues;
    } else if (name == "probabilities") {
      info.output = ModelOutput::kProbabilities;
    } else if (name == "logits") {
      info.output = ModelOutput::kLogits;
    } else {
      return absl::InvalidArgumentError(
          "output: expected \"values\", \"probabilities\" or \"logits\"");
    }
  }
  absl::StatusOr<std::vector<std::string>> features = ReadStrings(root, "features");
  if (!features.ok()) return features.status();
  info.feature_names = *std::move(features);
  absl::StatusOr<std::vector<std::string>> labels = ReadStrings(root, "labels");
  if (!labels.ok()) return labels.status();
  info.labels = *std::move(labels);
  if (const io::JsonValue* target = Member(root, "target"); target != nullptr) {
    if (!target->IsString()) return absl::InvalidArgumentError("target: expected text");
    info.target_name.assign(target->GetString(), target->GetStringLength());
  }
  if (const io::JsonValue* scaler = Member(root, "scaler");
      scaler != nullptr && !scaler->IsNull()) {
    if (!scaler->IsObject()) return absl::InvalidArgumentError("scaler: expected an object");
    const io::JsonValue* scaling = Member(*scaler, "scaling");
    if (scaling == nullptr || !scaling->IsString()) {
      return absl::InvalidArgumentError("scaler.scaling: expected text");
    }
    absl::StatusOr<Scaling> parsed = ParseScaling(scaling->GetString());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scaler.scaling: ", parsed.status().message()));
    }
    absl::StatusOr<std::vector<double>> scale = ReadFiniteNumbers(*scaler, "scale", "scaler");
    if (!scale.ok()) return scale.status();
    absl::StatusOr<std::vector<double>> shift = ReadFiniteNumbers(*scaler, "shift", "scaler");
    if (!shift.ok()) return shift.status();
    absl::StatusOr<Scaler> made = Scaler::FromParts(*parsed, *std::move(scale), *std::move(shift));
    if (!made.ok())
      return absl::InvalidArgumentError(absl::StrCat("scaler: ", made.status().message()));
    info.scaler = *std::move(made);
  }
  return info;
}

// A file of the MLP format, as a saved model.
absl::StatusOr<SavedModel> FromMlpFile(const std::string& path) {
  absl::StatusOr<MlpModel> mlp = LoadMlpModel(path);
  if (!mlp.ok()) return mlp.status();
  SavedModel model;
  model.info.task = mlp->task;
  model.info.output =
      mlp->task == Task::kRegression ? ModelOutput::kValues : ModelOutput::kProbabilities;
  model.info.scaler = mlp->scaler;
  model.info.feature_names = mlp->feature_names;
  model.info.target_name = mlp->target_name;
  model.module = std::move(mlp->network);
  return model;
}

}  // namespace

const char* ModelOutputName(ModelOutput output) {
  switch (output) {
    case ModelOutput::kValues:
      return "values";
    case ModelOutput::kProbabilities:
      return "probabilities";
    case ModelOutput::kLogits:
      return "logits";
  }
  return "values";
}

absl::Status Save(const std::string& path, Module& module, const ModelInfo& info) {
  io::JsonWriter out;
  out.BeginObject().Key("format").String(kFormat).Key("architecture");
  if (absl::Status s = WriteModule(module, "", /*built_by_loader=*/true, out); !s.ok()) return s;
  out.Key("task");
  if (info.task.has_value()) {
    out.String(TaskName(*info.task));
  } else {
    out.Null();
  }
  out.Key("output").String(ModelOutputName(info.output));
  out.Key("features");
  WriteStrings(info.feature_names, out);
  out.Key("target").String(info.target_name);
  out.Key("labels");
  WriteStrings(info.labels, out);
  out.Key("scaler");
  if (info.scaler.scaling() == Scaling::kNone && info.scaler.scale().empty()) {
    out.Null();
  } else {
    out.BeginObject().Key("scaling").String(ScalingName(info.scaler.scaling())).Key("scale");
    WriteNumbers(info.scaler.scale(), out);
    out.Key("shift");
    WriteNumbers(info.scaler.shift(), out);
    out.EndObject();
  }
  out.EndObject();
  return io::SaveSafetensors(path, module.StateDict(), {{kMetadataKey, out.str()}});
}

absl::StatusOr<SavedModel> Load(const std::string& path) {
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  if (!file.ok()) return file.status();
  auto description = file->metadata.find(kMetadataKey);
  if (description == file->metadata.end()) {
    if (auto format = file->metadata.find("format");
        format != file->metadata.end() && format->second == "actgrad.mlp.v1") {
      return FromMlpFile(path);
    }
    return Refuse(path, absl::StrCat("its metadata has no \"", kMetadataKey,
                                     "\" description (a file written by nn::Save or actgrad "
                                     "train --save)"));
  }
  absl::StatusOr<io::JsonDocument> json =
      io::ParseJson(description->second, absl::StrCat(path, ": metadata \"", kMetadataKey, "\""));
  if (!json.ok()) return json.status();
  const io::JsonValue& root = *json;
  if (!root.IsObject()) return Refuse(path, "the description is not a JSON object");
  const io::JsonValue* format = Member(root, "format");
  if (format == nullptr || !format->IsString() || std::string(format->GetString()) != kFormat) {
    return Refuse(path, absl::StrCat("format: expected \"", kFormat, "\""));
  }
  const io::JsonValue* architecture = Member(root, "architecture");
  if (architecture == nullptr) return Refuse(path, "architecture: missing");
  int count = 0;
  absl::StatusOr<Node> tree = ReadNode(*architecture, "architecture", "", &count);
  if (!tree.ok()) return Refuse(path, tree.status().message());
  absl::StatusOr<ModelInfo> info = ReadInfo(root);
  if (!info.ok()) return Refuse(path, info.status().message());

  std::map<std::string, const Tensor*> tensors;
  for (const auto& [name, t] : file->tensors) tensors[name] = &t;
  if (absl::Status s = CheckShapes(*tree, /*built_by_loader=*/true, tensors); !s.ok()) {
    return Refuse(path, s.message());
  }
  for (const auto& [name, t] : file->tensors) {
    if (t.dtype() == DType::kInt64) continue;
    for (double v : t.ToVector()) {
      if (!std::isfinite(v)) {
        return Refuse(path, absl::StrCat("tensor \"", name, "\" holds ", v));
      }
    }
  }
  absl::StatusOr<std::unique_ptr<Module>> module = Build(*tree);
  if (!module.ok()) return Refuse(path, module.status().message());
  if (absl::Status s = CheckTree(**module, *tree); !s.ok()) return Refuse(path, s.message());
  absl::StatusOr<LoadReport> loaded = (*module)->LoadStateDict(file->tensors, /*strict=*/true);
  if (!loaded.ok()) return Refuse(path, loaded.status().message());
  if (info->scaler.scaling() != Scaling::kNone && !info->feature_names.empty() &&
      info->scaler.scale().size() != info->feature_names.size()) {
    return Refuse(
        path, absl::StrCat("scaler: it scales ", info->scaler.scale().size(),
                           " columns but the model has ", info->feature_names.size(), " features"));
  }
  (*module)->Eval();
  return SavedModel{.module = *std::move(module), .info = *std::move(info)};
}

Tensor SavedModel::Outputs(const Tensor& raw_features) const {
  NoGradGuard no_grad;
  // Features arrive in the module's own precision.
  const Tensor raw =
      raw_features.dtype() == dtype() ? raw_features : ToDType(raw_features, dtype());
  return module->Forward(info.scaler.scaling() == Scaling::kNone && info.scaler.scale().empty()
                             ? raw
                             : info.scaler.Transform(raw));
}

bool SavedModel::Classifies() const {
  return info.task.has_value() && *info.task != Task::kRegression &&
         info.output != ModelOutput::kValues;
}

DType SavedModel::dtype() const {
  const std::vector<Tensor> parameters = module->Parameters();
  return parameters.empty() ? DType::kFloat32 : parameters.front().dtype();
}

std::string SavedModel::LabelOf(int64_t class_index) const {
  if (class_index >= 0 && class_index < static_cast<int64_t>(info.labels.size())) {
    return info.labels[class_index];
  }
  return absl::StrCat(class_index);
}

Predictions SavedModel::Predict(const Tensor& raw_features) const {
  Tensor out = Outputs(raw_features);
  Predictions p;
  const int64_t rows = out.rank() > 0 ? out.dim(0) : 0;
  const int64_t width = rows > 0 ? out.numel() / rows : 0;
  if (!Classifies()) {
    const std::vector<double> values = out.ToVector();
    for (int64_t r = 0; r < rows; ++r) {
      p.values.emplace_back(values.begin() + r * width, values.begin() + (r + 1) * width);
    }
    return p;
  }
  if (info.output == ModelOutput::kLogits) {
    NoGradGuard no_grad;
    out = width == 1 ? Sigmoid(out) : Softmax(out, 1);
  }
  const std::vector<double> values = out.ToVector();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> row(values.begin() + r * width, values.begin() + (r + 1) * width);
    if (width == 1) {
      row = {1 - row[0], row[0]};
      p.classes.push_back(row[1] >= 0.5 ? 1 : 0);
    } else {
      p.classes.push_back(std::max_element(row.begin(), row.end()) - row.begin());
    }
    p.probabilities.push_back(std::move(row));
  }
  return p;
}

}  // namespace actgrad::nn
