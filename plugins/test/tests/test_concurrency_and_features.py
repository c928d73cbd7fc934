"""Threads sharing test:///default, and feature switches changing what the kernel allows."""

from __future__ import annotations

import threading
import uuid

import pytest

import virtkernel
from virtkernel.enums import ErrorCode


@pytest.mark.timeout(60)
def test_threads_define_start_and_destroy_without_losing_anything(conn):
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            mine = virtkernel.open("test:///default")
            try:
                for n in range(25):
                    xml = (f"<domain type='test'><name>w{index}-{n}</name><uuid>{uuid.uuid4()}</uuid>"
                           "<memory>1024</memory><os><type>hvm</type></os></domain>")
                    dom = mine.define_xml(xml)
                    dom.create()
                    with lock:
                        ids.append(dom.get_id())
                    if n % 2:
                        dom.destroy()
            finally:
                mine.close()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 100
    assert conn.num_of_domains() == 1 + 4 * 13
    assert conn.num_of_defined_domains() == 4 * 12


def test_string_parameters_refused_when_the_host_lacks_typed_param_string(host_file):
    uri = host_file("""
        <vk:features xmlns:vk="https://virtkernel.dev/xmlns/test/1"><vk:disable name="TYPED_PARAM_STRING"/></vk:features>
        <domain type='test'><name>old</name><memory>1024</memory><os><type>hvm</type></os></domain>""")
    connection = virtkernel.open(uri)
    try:
        dom = connection.lookup_by_name("old")
        with pytest.raises(virtkernel.VirtError) as refused:
            dom.set_numa_parameters({"numa_nodeset": "0"})
        assert refused.value.code == ErrorCode.INVALID_ARG
        dom.set_numa_parameters({"numa_mode": 1})
        assert dom.get_numa_parameters()["numa_mode"] == 1
    finally:
        connection.close()
