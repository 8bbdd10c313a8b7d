#pragma once

#include <QByteArray>
#include <QString>

namespace Sluice {

/// API keys in the OS keychain (Secret Service, Keychain, Credential Manager) through QtKeychain:
/// service "sluice", one entry per endpoint name. Each call waits for the keychain in a local event
/// loop, at most timeoutMs. Keys are never logged or written anywhere else.
class KeyStore
{
public:
    static constexpr int DefaultTimeoutMs = 5000;

    explicit KeyStore(QString service = QStringLiteral("sluice"), int timeoutMs = DefaultTimeoutMs);

    /// Stores (replaces) the key for `endpoint`. False with `error` set when the keychain refuses.
    bool store(const QString &endpoint, const QByteArray &key, QString *error = nullptr) const;
    /// The key stored for `endpoint`; empty when there is none or the keychain is unavailable.
    QByteArray read(const QString &endpoint, QString *error = nullptr) const;
    /// Removes the key for `endpoint`; true also when there was none.
    bool remove(const QString &endpoint, QString *error = nullptr) const;

    QString service() const { return m_service; }

private:
    QString m_service;
    int m_timeoutMs;
};

} // namespace Sluice
