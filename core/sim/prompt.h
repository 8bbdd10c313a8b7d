#pragma once

#include <QtGlobal>

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace Sluice::Sim {

/// The text of a chat request (OpenAI `messages`, or Anthropic `system` + `messages`), as views into
/// the parsed body, which must outlive the Prompt.
class Prompt
{
public:
    /// std::nullopt when the body has no non-empty `messages` array.
    static std::optional<Prompt> read(const nlohmann::json &body);

    /// Every text piece in order, system first.
    const std::vector<std::string_view> &pieces() const { return m_pieces; }
    /// Code points in all pieces together.
    qint64 chars() const { return m_chars; }
    /// The first `maxChars` code points of the last user message (its pieces joined by newlines); the
    /// last message of any role when there is no user message.
    std::string lastUserText(qint64 maxChars) const;

private:
    std::vector<std::string_view> m_pieces;
    std::size_t m_lastUserFirst = 0; ///< pieces of the last user message: [first, first + count)
    std::size_t m_lastUserCount = 0;
    qint64 m_chars = 0;
};

} // namespace Sluice::Sim
