#pragma once

#include <QString>

#include <utility>
#include <variant>

namespace Sluice {

/// A failure that a core API reports instead of throwing. `line` is 1-based, 0 when not tied to a line.
struct Error
{
    enum class Code {
        Io,            ///< file could not be opened, read or written
        InvalidConfig, ///< project file or command-line value is wrong
        InvalidInput,  ///< a request line could not be understood
        Network,       ///< a socket could not be bound or reached
        UnfinishedRun, ///< the outputs belong to a run that can be resumed; refused to replace them
    };

    Code code = Code::InvalidConfig;
    QString message;
    qint64 line = 0;
};

/// Value-or-error, the small stand-in for C++23's std::expected.
template<typename T>
class Result
{
public:
    Result(T value)
        : m_data(std::move(value))
    {
    }
    Result(Error error)
        : m_data(std::move(error))
    {
    }

    bool ok() const { return std::holds_alternative<T>(m_data); }
    explicit operator bool() const { return ok(); }

    const T &value() const & { return std::get<T>(m_data); }
    T &value() & { return std::get<T>(m_data); }
    T &&value() && { return std::get<T>(std::move(m_data)); }
    const T &operator*() const & { return value(); }
    const T *operator->() const { return &value(); }

    const Error &error() const { return std::get<Error>(m_data); }

private:
    std::variant<T, Error> m_data;
};

/// Result for calls that return nothing on success.
template<>
class Result<void>
{
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error))
        , m_failed(true)
    {
    }

    bool ok() const { return !m_failed; }
    explicit operator bool() const { return ok(); }
    const Error &error() const { return m_error; }

private:
    Error m_error;
    bool m_failed = false;
};

} // namespace Sluice
