#include "daemon/sampling_wire.h"

#include <random>

namespace zen::daemon {

::zen::node::v1::SamplingParams ToWire(const node::SamplingParams& s) {
  ::zen::node::v1::SamplingParams out;
  out.set_temperature(s.temperature);
  out.set_top_k(s.top_k);
  out.set_top_p(s.top_p);
  out.set_min_p(s.min_p);
  out.set_presence_penalty(s.presence_penalty);
  out.set_frequency_penalty(s.frequency_penalty);
  out.set_repetition_penalty(s.repetition_penalty);
  out.set_seed(s.seed.has_value() ? *s.seed : std::random_device{}());
  return out;
}

namespace {

// Both protos carry the same fields, with zero top_p and repetition_penalty meaning "off".
template <typename Proto>
node::SamplingParams FromProto(const Proto& p) {
  node::SamplingParams s;
  s.temperature = p.temperature();
  s.top_k = p.top_k();
  s.top_p = p.top_p() > 0 ? p.top_p() : 1.0f;
  s.min_p = p.min_p();
  s.presence_penalty = p.presence_penalty();
  s.frequency_penalty = p.frequency_penalty();
  s.repetition_penalty = p.repetition_penalty() > 0 ? p.repetition_penalty() : 1.0f;
  s.seed = p.seed();
  return s;
}

}  // namespace

node::SamplingParams FromWire(const ::zen::node::v1::SamplingParams& wire) {
  node::SamplingParams s = FromProto(wire);
  s.penalty_last_n = -1;
  return s;
}

node::SamplingParams FromApi(const ::zen::v1::SamplingParams& api) {
  return FromProto(api);
}

}  // namespace zen::daemon
