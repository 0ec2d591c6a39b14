#include "tools/predict_command.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/csv.h"
#include "io/json.h"
#include "nn/model_file.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

struct PredictFlags {
  std::vector<std::string> plugins;
  std::string model;
  std::string data;
  bool json = false;
};

int RunPredict(const PredictFlags& flags) {
  if (!LoadPlugins(flags.plugins, "actgrad predict")) return 1;
  absl::StatusOr<nn::SavedModel> model = nn::Load(flags.model);
  if (!model.ok()) {
    std::cerr << "actgrad predict: " << model.status().message() << "\n";
    return 1;
  }
  const nn::ModelInfo& info = model->info;
  // A model saved without a target name reads every column as a feature.
  absl::StatusOr<io::Dataset> data =
      io::ReadCsv(flags.data, {.target_column = info.target_name,
                               .target_optional = true,
                               .no_target = info.target_name.empty()});
  if (!data.ok()) {
    std::cerr << "actgrad predict: " << data.status().message() << "\n";
    return 1;
  }
  if (!info.feature_names.empty() && data->feature_names != info.feature_names) {
    // Name what is missing and what is extra, not two long lists to compare.
    std::vector<std::string> missing, extra;
    for (const std::string& name : info.feature_names) {
      if (std::find(data->feature_names.begin(), data->feature_names.end(), name) ==
          data->feature_names.end()) {
        missing.push_back(name);
      }
    }
    for (const std::string& name : data->feature_names) {
      if (std::find(info.feature_names.begin(), info.feature_names.end(), name) ==
          info.feature_names.end()) {
        extra.push_back(name);
      }
    }
    std::cerr << "actgrad predict: " << flags.data;
    if (!missing.empty()) {
      std::cerr << " lacks the column" << (missing.size() > 1 ? "s " : " ")
                << absl::StrJoin(missing, ", ") << " the model was trained on";
    }
    if (!extra.empty()) {
      std::cerr << (missing.empty() ? "" : ", and") << " has the column"
                << (extra.size() > 1 ? "s " : " ") << absl::StrJoin(extra, ", ")
                << " the model does not know"
                << (info.target_name.empty()
                        ? ""
                        : absl::StrCat(" (its target is \"", info.target_name, "\")"));
    }
    if (missing.empty() && extra.empty()) {
      std::cerr << " has the model's feature columns in another order: "
                << absl::StrJoin(data->feature_names, ",") << " instead of "
                << absl::StrJoin(info.feature_names, ",");
    }
    std::cerr << "\n";
    return 1;
  }
  const nn::Predictions predictions = model->Predict(data->Features(model->dtype()));
  const bool classification = model->Classifies();
  // Against the target column, when the file has it.
  double metric = std::nan("");
  if (!data->y.empty() && data->rows > 0) {
    double sum = 0;
    for (int64_t r = 0; r < data->rows; ++r) {
      if (classification) {
        const std::string truth = data->target_labels.empty()
                                      ? absl::StrCat(data->y[r])
                                      : data->target_labels[static_cast<size_t>(data->y[r])];
        sum += model->LabelOf(predictions.classes[r]) == truth;
      } else {
        const double d = predictions.values[r][0] - data->y[r];
        sum += d * d;
      }
    }
    metric = classification ? sum / double(data->rows) : std::sqrt(sum / double(data->rows));
  }
  const char* metric_name = classification ? "accuracy" : "rmse";
  if (flags.json) {
    io::JsonWriter out;
    out.BeginObject().Key("task");
    if (info.task.has_value()) {
      out.String(nn::TaskName(*info.task));
    } else {
      out.Null();
    }
    out.Key("rows").Int(data->rows).Key(metric_name).Number(metric);
    if (classification) {
      out.Key("labels").BeginArray();
      const size_t classes = predictions.probabilities.empty()
                                 ? info.labels.size()
                                 : predictions.probabilities[0].size();
      for (size_t c = 0; c < classes; ++c) out.String(model->LabelOf(static_cast<int64_t>(c)));
      out.EndArray();
    }
    out.Key("predictions").BeginArray();
    for (int64_t r = 0; r < data->rows; ++r) {
      out.BeginObject();
      if (classification) {
        out.Key("label").String(model->LabelOf(predictions.classes[r])).Key("probabilities");
        out.BeginArray();
        for (double p : predictions.probabilities[r]) out.Number(p);
        out.EndArray();
      } else if (predictions.values[r].size() == 1) {
        out.Key("value").Number(predictions.values[r][0]);
      } else {
        out.Key("values").BeginArray();
        for (double v : predictions.values[r]) out.Number(v);
        out.EndArray();
      }
      out.EndObject();
    }
    out.EndArray().EndObject();
    std::cout << out.str() << "\n";
    return 0;
  }
  for (int64_t r = 0; r < data->rows; ++r) {
    if (classification) {
      std::string line = model->LabelOf(predictions.classes[r]);
      for (size_t c = 0; c < predictions.probabilities[r].size(); ++c) {
        absl::StrAppendFormat(&line, "  p(%s)=%.4f", model->LabelOf(static_cast<int64_t>(c)),
                              predictions.probabilities[r][c]);
      }
      std::cout << line << "\n";
    } else {
      std::vector<std::string> values;
      for (double v : predictions.values[r]) values.push_back(absl::StrFormat("%g", v));
      std::cout << absl::StrJoin(values, " ") << "\n";
    }
  }
  if (!std::isnan(metric)) {
    std::cerr << absl::StrFormat("%d rows; %s against column \"%s\": %.4f\n", data->rows,
                                 classification ? "accuracy" : "RMSE", info.target_name, metric);
  }
  return 0;
}

}  // namespace

void AddPredictCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* sub =
      app.add_subcommand("predict", "Apply a saved model (train --save, nn::Save) to a CSV file");
  sub->add_option("--model", f->model, "A model file written by train --save or nn::Save")
      ->required();
  sub->add_option("--data", f->data,
                  "CSV file with the model's feature columns (and its target column, if known)")
      ->required();
  sub->add_flag("--json", f->json,
                "Print one JSON object on stdout: per row the label and class probabilities, or "
                "the value");
  AddPluginOption(sub, &f->plugins);
  sub->callback([f, exit_code] { *exit_code = RunPredict(*f); });
}

}  // namespace actgrad::tools
