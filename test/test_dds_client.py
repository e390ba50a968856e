"""The test-side DDS client's service calls: an idempotent call asks again when its response was
lost (Fast DDS drops one when the server has not yet discovered a new client's reader); any
other call is sent once. Listening to a topic twice stores its messages once."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.ros


@pytest.fixture
def forgetful_server():
    """A SetBool service that never answers the first request it gets (as if its response were
    lost) and answers every later one; yields the number of requests it has seen."""
    import rclpy
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from std_srvs.srv import SetBool

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("forgetful_server", context=context)
    seen: list[bool] = []
    release = threading.Event()

    def answer(request, response):
        seen.append(request.data)
        if len(seen) == 1:
            release.wait()  # this response never goes out while the test runs
        response.success = True
        return response

    node.create_service(SetBool, "forgetful", answer, callback_group=ReentrantCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield seen
    release.set()
    executor.shutdown()
    thread.join(timeout=30)
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_an_idempotent_call_asks_again_when_its_response_is_lost(client, forgetful_server):
    from std_srvs.srv import SetBool

    response = client.call(SetBool, "/forgetful", SetBool.Request(data=True), timeout=20, idempotent=True)
    assert response.success and forgetful_server == [True, True]


def test_another_call_is_sent_once(client, forgetful_server):
    from std_srvs.srv import SetBool

    with pytest.raises(TimeoutError, match="response of /forgetful"):
        client.call(SetBool, "/forgetful", SetBool.Request(data=True), timeout=5)
    assert forgetful_server == [True]


def test_listening_again_stores_each_message_once(client):
    """Tests listen to a topic a module's shared client may already listen to (the README
    sessions each wait for their tracker's status): a second subscription would store every
    message twice."""
    import uuid

    from std_msgs.msg import String

    topic = f"/listen_twice_{uuid.uuid4().hex[:8]}"
    client.listen(topic, String)
    subscriptions = len(list(client.node.subscriptions))
    client.listen(topic, String)
    assert len(list(client.node.subscriptions)) == subscriptions, "a second subscription"
    client.advertise(topic, String)
    client.wait_for_subscribers(topic)
    for text in ("first", "last"):
        client.publish(topic, String(data=text))
    client.wait_until(lambda: "last" in [m.data for m in client.received(topic)], 20, "the last message")
    assert [m.data for m in client.received(topic)] == ["first", "last"]
