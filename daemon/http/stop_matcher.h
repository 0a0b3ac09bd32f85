// Finds OpenAI-style stop strings in streamed text. Text that could be the start of a stop
// string is held back until the next piece tells, so a client never sees part of one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace zen::http {

// Watches one generation's text for any of a set of stop strings.
class StopMatcher {
 public:
  // Empty strings in `stops` are ignored.
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds text; returns what can be shown now. After a match, returns the text before the
  // stop string and stopped() turns true; later calls return "".
  std::string Feed(std::string_view text);
  // End of generation: returns the held-back tail (it matched no stop string).
  std::string Flush();
  // True once a stop string was found.
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace zen::http
