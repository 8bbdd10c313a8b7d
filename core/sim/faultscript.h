#pragma once

#include "sim/directive.h"

#include <QHash>

#include <optional>
#include <string_view>

namespace Sluice::Sim {

class Prompt;

/// The scripted faults of the simulator: finds the first `@sim(...)` in a prompt and counts its uses,
/// so that a directive with `times=M` applies to the first M requests carrying the same directive and
/// the same prompt text, and never after. Not thread-safe.
class FaultScript
{
public:
    /// The directive of this prompt when it applies to this request (a use is counted); std::nullopt
    /// when there is none or its `times` are used up.
    std::optional<Directive> take(const Prompt &prompt);

    /// The directive of this prompt, without counting a use.
    static std::optional<Directive> find(const Prompt &prompt);

private:
    static void applyKey(Directive &directive, std::string_view key, std::string_view value);
    static void normalise(Directive &directive);
    static QByteArray scopeKey(std::string_view whole, const Prompt &prompt);

    QHash<QByteArray, int> m_uses;
};

} // namespace Sluice::Sim
