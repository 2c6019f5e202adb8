"""The local executor's hand-out order (rdpbench.executor._ImageQueue), without starting processes."""

from types import SimpleNamespace

from rdpbench.executor import _ImageQueue
from rdpbench.tasks import Task


def _tasks(images, settings):
    return [Task("jpeg", "jpeg", f"quality={q}", (("quality", q),), image, f"/data/{image}", ("psnr",))
            for q in settings for image in images]  # setting by setting, as the runner plans them


def test_each_task_is_handed_out_once_and_a_worker_stays_on_its_image():
    queue = _ImageQueue(_tasks(["a.png", "b.png", "c.png"], [5, 15, 25, 35]))
    workers = [SimpleNamespace(image=None), SimpleNamespace(image=None)]
    taken = {0: [], 1: []}
    for turn in [0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0]:
        taken[turn].append(queue.take(workers[turn], workers))
    assert not queue and len(queue) == 0
    every = [task.key for worker_tasks in taken.values() for task in worker_tasks]
    assert sorted(every) == sorted(task.key for task in _tasks(["a.png", "b.png", "c.png"], [5, 15, 25, 35]))
    # worker 0 did a.png's four settings in a row, worker 1 b.png's, then c.png went to whoever was free
    assert [t.image for t in taken[0][:4]] == ["a.png"] * 4
    assert [t.image for t in taken[1][:4]] == ["b.png"] * 4
    assert [t.setting for t in taken[0][:4]] == ["quality=5", "quality=15", "quality=25", "quality=35"]


def test_a_free_worker_helps_with_the_image_that_has_most_tasks_left():
    queue = _ImageQueue(_tasks(["a.png", "b.png"], [5, 15, 25, 35, 45]))
    busy, free = SimpleNamespace(image=None), SimpleNamespace(image=None)
    queue.take(busy, [busy, free])  # busy starts a.png
    for _ in range(5):
        queue.take(free, [busy, free])  # free does all of b.png
    assert free.image == "/data/b.png" and len(queue) == 4
    assert queue.take(free, [busy, free]).image == "a.png"  # nothing new left: it joins a.png
