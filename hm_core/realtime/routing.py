"""WebSocket routes of the ASGI application (config/asgi.py)."""

from django.urls import path

from hm_core.realtime.consumers import EventsConsumer

websocket_urlpatterns = [path("ws/events/", EventsConsumer.as_asgi())]
