#include "router.h"

namespace Sluice::Sim {

Router::Router(const Dialect *openAi, const Dialect *anthropic)
    : m_openAi(openAi)
    , m_anthropic(anthropic)
{
}

Router::Match Router::match(QByteArrayView path) const
{
    if (path == QByteArrayView("/health"))
        return {Route::Health, nullptr};
    if (path.endsWith(QByteArrayView("/chat/completions")))
        return {Route::Chat, m_openAi};
    if (path.endsWith(QByteArrayView("/messages")))
        return {Route::Messages, m_anthropic};
    return {Route::NotFound, nullptr};
}

} // namespace Sluice::Sim
