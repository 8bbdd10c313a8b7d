#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <string>
#include <vector>

namespace Sluice {

/// The run's API keys, and the one way anything that leaves the engine (records, messages, the
/// gateway's answers) is cleaned of them: every occurrence is replaced by "[REDACTED]". Keys
/// shorter than MinBytes are ignored: too likely to be ordinary text, and no provider issues them.
class Secrets
{
public:
    static constexpr qsizetype MinBytes = 8;

    Secrets() = default;
    explicit Secrets(const QList<QByteArray> &keys);

    /// True when no key is long enough to be redacted.
    bool isEmpty() const { return m_keys.empty(); }
    /// Replaces every occurrence of a key in `text`, in place (UTF-8 bytes).
    void redact(std::string &text) const;
    QString redacted(QString text) const;

private:
    std::vector<std::string> m_keys;
};

} // namespace Sluice
