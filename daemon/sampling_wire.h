// Sampling settings in their three forms: the public API's (zen.v1, zero means "off"),
// node::Sampler's, and the pipeline's wire form that the last node samples with
// (zen.node.v1). Conversions live here alone so every path samples the same way.
#pragma once

#include "node/sampler.h"
#include "zen/node/v1/node.pb.h"
#include "zen/v1/zen.pb.h"

namespace zen::daemon {

// The wire form of `params`; an unset seed becomes a fresh random one (the wire has no
// "unset").
::zen::node::v1::SamplingParams ToWire(const node::SamplingParams& params);

// What the last node samples with. Zero top_p / repetition_penalty mean off; the penalties
// look at the whole sequence (prompt and answer), as the pipeline always has.
node::SamplingParams FromWire(const ::zen::node::v1::SamplingParams& wire);

// The public API's settings (all zero: greedy; zero top_p / repetition_penalty: off; the
// seed as given).
node::SamplingParams FromApi(const ::zen::v1::SamplingParams& api);

}  // namespace zen::daemon
