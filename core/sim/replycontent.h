#pragma once

#include <QtGlobal>

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace Sluice {
struct SimulatorConfig;
}

namespace Sluice::Sim {

class Prompt;

/// What the simulated model answers to one request, in either dialect, streamed or not. The text (or
/// the tool call), the finish reason and the usage depend only on the request and the configuration,
/// so that a streamed reply assembles to exactly the non-streamed one.
///
/// Text: "Simulated reply to: " + the first 60 characters of the last user message (lengthened with
/// " sim" words when SimulatorConfig::chunksPerReply asks for more chunks than it has tokens).
/// Tool call: when the request has a non-empty `tools` array (and `tool_choice` is not "none"), a call
/// to its first tool (or the one `tool_choice` names) with arguments {"text": <first 256 characters
/// of the last user message>}. Usage: 4 characters per token, at least 1 each way.
class ReplyContent
{
public:
    struct ToolCall
    {
        std::string name;
        std::string arguments; ///< JSON text of the arguments object
    };

    /// `serial` numbers the reply (ids such as chatcmpl-sim-N); `body` and `prompt` are the request's.
    static ReplyContent compose(const nlohmann::json &body, const Prompt &prompt,
                                const SimulatorConfig &config, const std::string &defaultModel,
                                qint64 serial);

    qint64 serial() const { return m_serial; }
    const std::string &model() const { return m_model; }
    const std::string &text() const { return m_text; }
    const std::optional<ToolCall> &toolCall() const { return m_toolCall; }
    qint64 promptTokens() const { return m_promptTokens; }
    qint64 completionTokens() const { return m_completionTokens; }
    /// The text, or the tool call's arguments, cut into the chunks of a streamed reply (at least one,
    /// never inside a character).
    std::vector<std::string> chunks() const;

private:
    static std::optional<ToolCall> chooseTool(const nlohmann::json &body, const Prompt &prompt);

    qint64 m_serial = 0;
    std::string m_model;
    std::string m_text;
    std::optional<ToolCall> m_toolCall;
    qint64 m_promptTokens = 1;
    qint64 m_completionTokens = 1;
    qint64 m_chunkCount = 0; ///< 0: one per token
};

} // namespace Sluice::Sim
