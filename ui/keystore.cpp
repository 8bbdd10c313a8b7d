#include "keystore.h"

#include <qt6keychain/keychain.h>

#include <QEventLoop>
#include <QTimer>

namespace Sluice {

namespace {

/// Runs `job` (heap-allocated) to completion or until `timeoutMs`; true when it finished without
/// error. A job that times out deletes itself whenever the keychain finally answers.
bool runJob(QKeychain::Job *job, int timeoutMs, QString *error, QKeychain::Error *code = nullptr)
{
    job->setAutoDelete(false);
    job->setInsecureFallback(false);
    QEventLoop loop;
    bool done = false;
    QObject::connect(job, &QKeychain::Job::finished, &loop, [&] {
        done = true;
        loop.quit();
    });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    job->start();
    if (!done) {
        loop.exec(QEventLoop::ExcludeUserInputEvents);
    }
    if (!done) {
        job->setAutoDelete(true);
        if (code) {
            *code = QKeychain::OtherError;
        }
        if (error) {
            *error = QStringLiteral("the keychain did not answer within %1 s").arg(timeoutMs / 1000.0);
        }
        return false;
    }
    if (code) {
        *code = job->error();
    }
    if (job->error() != QKeychain::NoError) {
        if (error) {
            *error = job->errorString();
        }
        return false;
    }
    return true;
}

} // namespace

KeyStore::KeyStore(QString service, int timeoutMs)
    : m_service(std::move(service))
    , m_timeoutMs(timeoutMs)
{
}

bool KeyStore::store(const QString &endpoint, const QByteArray &key, QString *error) const
{
    auto *job = new QKeychain::WritePasswordJob(m_service);
    job->setKey(endpoint);
    job->setBinaryData(key);
    const bool ok = runJob(job, m_timeoutMs, error);
    if (!job->autoDelete()) {
        delete job;
    }
    return ok;
}

QByteArray KeyStore::read(const QString &endpoint, QString *error) const
{
    auto *job = new QKeychain::ReadPasswordJob(m_service);
    job->setKey(endpoint);
    QByteArray key;
    if (runJob(job, m_timeoutMs, error)) {
        key = job->binaryData();
    }
    if (!job->autoDelete()) {
        delete job;
    }
    return key;
}

bool KeyStore::remove(const QString &endpoint, QString *error) const
{
    auto *job = new QKeychain::DeletePasswordJob(m_service);
    job->setKey(endpoint);
    QString why;
    QKeychain::Error code = QKeychain::NoError;
    const bool ok = runJob(job, m_timeoutMs, &why, &code) || code == QKeychain::EntryNotFound;
    if (!job->autoDelete()) {
        delete job;
    }
    if (!ok && error) {
        *error = why;
    }
    return ok;
}

} // namespace Sluice
