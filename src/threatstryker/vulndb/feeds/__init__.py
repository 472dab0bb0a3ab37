"""Vulnerability feeds: readers that turn upstream records into :class:`~threatstryker.vulndb.advisory.Advisory`."""
