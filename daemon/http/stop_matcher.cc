#include "daemon/http/stop_matcher.h"

#include <algorithm>
#include <utility>

#include "node/utf8_stream.h"

namespace zen::http {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (!stop.empty()) stops_.push_back(std::move(stop));
  }
}

std::string StopMatcher::Feed(std::string_view text) {
  if (stopped_) return "";
  pending_.append(text);
  if (stops_.empty()) return std::exchange(pending_, std::string());

  size_t first_match = std::string::npos;
  for (const std::string& stop : stops_) {
    first_match = std::min(first_match, pending_.find(stop));
  }
  if (first_match != std::string::npos) {
    stopped_ = true;
    std::string shown = pending_.substr(0, first_match);
    pending_.clear();
    return shown;
  }
  // A held suffix equals the start of a stop string, which starts on a character
  // boundary, so what is released always ends on one too.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    hold = std::max(hold, node::PartialSuffixLength(pending_, stop));
  }
  std::string shown = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return shown;
}

std::string StopMatcher::Flush() {
  if (stopped_) return "";
  return std::exchange(pending_, std::string());
}

}  // namespace zen::http
