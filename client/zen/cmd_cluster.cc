// `zen plan --host ADDR` and `zen status --host ADDR`: what a running cluster is doing.
#include <cstdio>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "client/lib/zen_client.h"
#include "client/zen/command_registry.h"

namespace zen::cli {
namespace {

struct ClusterFlags {
  std::string host = "127.0.0.1:7071";
  bool json = false;
};

// Prints a message as JSON or through `format`; returns the exit code.
template <typename Message, typename Format>
int Print(const absl::StatusOr<Message>& message, bool json, Format format) {
  if (!message.ok()) {
    fprintf(stderr, "zen: %s\n", std::string(message.status().message()).c_str());
    return 1;
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(*message, &out, options);
    printf("%s\n", out.c_str());
  } else {
    printf("%s", format(*message).c_str());
  }
  return 0;
}

void SetupPlan(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClusterFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Show how a cluster split the model: each slice's bytes and ms/token, and why "
      "nodes were left out");
  cmd->add_option("--host", flags->host,
                  "Client API of any zend of the cluster (its --api address:port)")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print JSON");
  cmd->callback([flags, exit_code] {
    client::Client client(flags->host);
    *exit_code = Print(client.Plan(), flags->json, client::FormatPlan);
  });
}

void SetupStatus(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClusterFlags>();
  CLI::App* cmd = app.add_subcommand(
      "status", "List a cluster's nodes: name, address, state, memory, slice, tokens/s");
  cmd->add_option("--host", flags->host,
                  "Client API of any zend of the cluster (its --api address:port)")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print JSON");
  cmd->callback([flags, exit_code] {
    client::Client client(flags->host);
    *exit_code = Print(client.Status(), flags->json, client::FormatStatus);
  });
}

ZEN_REGISTER_COMMAND("60-plan", SetupPlan);
ZEN_REGISTER_COMMAND("61-status", SetupStatus);

}  // namespace
}  // namespace zen::cli
