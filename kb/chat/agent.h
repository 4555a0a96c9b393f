/* kb/chat/agent.h: the agents' channel as the websocket server lists it (server.c): its
 * libwebsockets protocol, served at /agent with the subprotocol "kb-agent". agent.c owns
 * the connections; frames.c documents the protocol. Internal to kb/chat. */
#ifndef KB_CHAT_AGENT_H
#define KB_CHAT_AGENT_H

#include <libwebsockets.h>

#include "kb/chat/frames.h"

#define CHAT_AGENT_PROTOCOL "kb-agent"
#define CHAT_AGENT_PSS_SIZE 64 /* per-connection memory libwebsockets keeps for agent.c */
#define CHAT_AGENT_RX_BUFFER (KB_CHAT_AGENT_FRAME_MAX + 128)

/* The protocol's callback (websocket thread only). */
int chat_agent_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

#endif
